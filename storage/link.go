package storage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// LinkPath is the path prefix of the local backend's download links: PublicURL + LinkPath + key.
// Mount LinkHandler there (mux.Handle(storage.LinkPath, storage.LinkHandler(store))).
const LinkPath = "/files/"

// Links are PublicURL/files/<key>?expires=<unix seconds>&sig=<base64url HMAC-SHA256>, the MAC covering
// a version tag, the key and the expiry, so neither can be changed without the secret.
func linkMAC(secret []byte, key string, expires int64) []byte {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "signet-link-v1\n%s\n%d", key, expires)
	return m.Sum(nil)
}

func signLink(base, key string, expires time.Time, secret []byte) string {
	exp := expires.Unix()
	u := strings.TrimRight(base, "/") + LinkPath + (&url.URL{Path: key}).EscapedPath()
	q := url.Values{}
	q.Set("expires", strconv.FormatInt(exp, 10))
	q.Set("sig", base64.RawURLEncoding.EncodeToString(linkMAC(secret, key, exp)))
	return u + "?" + q.Encode()
}

// LinkHandler serves the local backend's signed links: it checks the HMAC and the expiry (403 otherwise)
// and streams the object, verifying its SHA-256 on the way; a tampered file is cut off before its last
// bytes so the download fails instead of delivering wrong content. Mount it at LinkPath, with or
// without http.StripPrefix. For other backends it answers 404: their links are presigned S3 URLs.
func LinkHandler(s Store) http.Handler {
	ls, ok := s.(*localStore)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ok {
			http.Error(w, "download links are served by the object store with this storage backend", http.StatusNotFound)
			return
		}
		ls.serveLink(w, r)
	})
}

func (s *localStore) serveLink(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if strings.HasPrefix(p, LinkPath) {
		p = strings.TrimPrefix(p, LinkPath)
	} else {
		p = strings.TrimPrefix(p, "/")
	}
	key := p
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	sig, serr := base64.RawURLEncoding.DecodeString(q.Get("sig"))
	if err != nil || serr != nil || len(s.o.LinkSecret) == 0 || ValidateKey(key) != nil ||
		!hmac.Equal(sig, linkMAC(s.o.LinkSecret, key, exp)) {
		http.Error(w, "invalid download link", http.StatusForbidden)
		return
	}
	if s.o.Now().Unix() >= exp {
		http.Error(w, "download link has expired; ask for a new one", http.StatusForbidden)
		return
	}
	rc, obj, err := s.Get(r.Context(), key)
	switch {
	case errors.Is(err, ErrNotFound):
		http.Error(w, "document not found (it may have passed its retention period)", http.StatusNotFound)
		return
	case err != nil:
		s.log.Error("serving download link failed", zap.String("key", key), zap.Error(err))
		http.Error(w, "document cannot be served", http.StatusInternalServerError)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", obj.ContentType)
	h.Set("Content-Length", strconv.FormatInt(obj.Size, 10))
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", path.Base(key)))
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	// Write each chunk only after the next read succeeded, so the final chunk is held until the
	// SHA-256 check at EOF has passed.
	buf, held := make([]byte, 32<<10), make([]byte, 0, 32<<10)
	for {
		n, rerr := rc.Read(buf)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			s.log.Error("download aborted", zap.String("key", key), zap.Error(rerr))
			panic(http.ErrAbortHandler) // the client sees a broken transfer, not a complete wrong file
		}
		if len(held) > 0 {
			if _, err := w.Write(held); err != nil {
				return
			}
		}
		held = append(held[:0], buf[:n]...)
		if rerr != nil { // io.EOF and verified
			if len(held) > 0 {
				_, _ = w.Write(held)
			}
			return
		}
	}
}
