package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/storage"
)

// Files serves the local storage backend's signed download links at storage.LinkPath (/files/):
// storage.OpenLink checks the HMAC and the expiry (403 otherwise) and opens the object; this streams
// it, the object's SHA-256 verified on the way, and a tampered file is cut off before its last bytes
// so the download fails instead of delivering wrong content. For other backends it answers 404: their
// links are presigned S3 URLs. Mount it at storage.LinkPath, with or without http.StripPrefix.
type Files struct {
	Store storage.Store
	Log   *zap.Logger
}

func (f *Files) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !storage.ServesLinks(f.Store) {
		http.Error(w, storage.ErrLinksElsewhere.Error(), http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, localizer(r).T("web.files.method"), http.StatusMethodNotAllowed)
		return
	}
	key := r.URL.Path
	if strings.HasPrefix(key, storage.LinkPath) {
		key = strings.TrimPrefix(key, storage.LinkPath)
	} else {
		key = strings.TrimPrefix(key, "/")
	}
	q := r.URL.Query()
	rc, obj, err := storage.OpenLink(r.Context(), f.Store, key, q.Get("expires"), q.Get("sig"))
	switch {
	case errors.Is(err, storage.ErrLinkInvalid), errors.Is(err, storage.ErrLinkExpired):
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	case errors.Is(err, storage.ErrNotFound):
		http.Error(w, localizer(r).T("web.files.notFound"), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, localizer(r).T("web.files.failed"), http.StatusInternalServerError) // OpenLink logged it
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
			if f.Log != nil {
				f.Log.Error("download aborted", zap.String("key", key), zap.Error(rerr))
			}
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
