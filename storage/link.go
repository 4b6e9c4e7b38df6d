package storage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// LinkPath is the path prefix of the local backend's download links: PublicURL + LinkPath + key.
// web/files.go serves them there (OpenLink).
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

// Why OpenLink refuses a link; web/files.go answers each with its status.
var (
	// ErrLinksElsewhere: this backend's links are presigned S3 URLs, served by the object store.
	ErrLinksElsewhere = errors.New("download links are served by the object store with this storage backend")
	// ErrLinkInvalid: the signature does not cover this key and expiry (tampered, or another secret).
	ErrLinkInvalid = errors.New("invalid download link")
	// ErrLinkExpired: the link was genuine and its time is up.
	ErrLinkExpired = errors.New("download link has expired; ask for a new one")
)

// ServesLinks reports whether s is the local backend, whose links Signet serves itself (OpenLink);
// other backends' links are presigned S3 URLs.
func ServesLinks(s Store) bool {
	_, ok := s.(*localStore)
	return ok
}

// OpenLink checks a download link of the local backend, as the link carries them (the key after
// LinkPath, and its expires and sig parameters), and opens the object: ErrLinkInvalid unless the HMAC
// covers the key and the expiry, ErrLinkExpired after it, ErrNotFound when the object is gone. The
// reader verifies the object's SHA-256 and fails at EOF when it does not match, so whoever streams it
// can hold back the last bytes and deliver nothing wrong.
func OpenLink(ctx context.Context, s Store, key, expires, sig string) (io.ReadCloser, Object, error) {
	ls, ok := s.(*localStore)
	if !ok {
		return nil, Object{}, ErrLinksElsewhere
	}
	exp, err := strconv.ParseInt(expires, 10, 64)
	mac, serr := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || serr != nil || len(ls.o.LinkSecret) == 0 || ValidateKey(key) != nil ||
		!hmac.Equal(mac, linkMAC(ls.o.LinkSecret, key, exp)) {
		return nil, Object{}, ErrLinkInvalid
	}
	if ls.o.Now().Unix() >= exp {
		return nil, Object{}, ErrLinkExpired
	}
	rc, obj, err := ls.Get(ctx, key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		ls.log.Error("serving download link failed", zap.String("key", key), zap.Error(err))
	}
	return rc, obj, err
}
