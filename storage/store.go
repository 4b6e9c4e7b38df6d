package storage

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Object describes one stored object.
type Object struct {
	Key         string
	Size        int64
	SHA256      string // hex, lower case
	ContentType string
	Modified    time.Time
}

// Store is where signed artefacts live. Implementations are safe for concurrent use.
type Store interface {
	// Put streams r (multipart for S3, never held in memory whole); the SHA-256 is computed while
	// streaming and stored in the object's metadata (x-amz-meta-sha256 / the user.signet.meta extended attribute, or a sidecar, for files).
	// Idempotent: if the key exists with the same SHA-256 it returns the existing Object, nil (when
	// sha256Hex is given and already stored, r is not read at all).
	// If sha256Hex is "" it is computed; if given and the data does not match → error, nothing stored.
	// size may be -1 when unknown; when given, a stream of another length is refused.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256Hex string) (Object, error)
	// Get returns a reader that verifies the SHA-256 at EOF: a tampered object yields ErrIntegrity on the
	// final Read / Close, never silently wrong bytes.
	Get(ctx context.Context, key string) (io.ReadCloser, Object, error)
	// Stat returns the object's description; ErrNotFound if absent, ErrIntegrity if it has no Signet
	// checksum (written by something else).
	Stat(ctx context.Context, key string) (Object, error)
	// Delete removes the object; deleting an absent key is not an error. With S3 Object Lock the locked
	// version stays (S3 only adds a delete marker).
	Delete(ctx context.Context, key string) error
	// URL is a download link valid for expiry (≤ 7 days, S3's limit; longer → ErrExpiry): presigned for
	// S3; for the local backend a link to Signet's own HTTP server, HMAC-signed with an expiry.
	URL(ctx context.Context, key string, expiry time.Duration) (string, error)
	Ping(ctx context.Context) error // for /readyz
	Close() error
}

// MaxLinkExpiry is the longest download link: S3 SigV4 presigned URLs are limited to 7 days.
const MaxLinkExpiry = 7 * 24 * time.Hour

// DefaultRetention is how long artefacts are kept when Options.Retention is zero.
const DefaultRetention = 14 * 24 * time.Hour

// Options configure Open. The zero value is usable for both backends except for local links, which
// need PublicURL and LinkSecret.
type Options struct {
	// Retention: how long an artefact is kept (default 14 days). S3: a lifecycle rule on the prefix
	// (current and noncurrent versions, whole days, applied eventually by the S3 scanner) set at Open;
	// local: pruned on a timer.
	Retention time.Duration
	// PublicURL: local backend, base URL of Signet's HTTP server for links (e.g. http://127.0.0.1:8080);
	// links are PublicURL + LinkPath + key.
	PublicURL string
	// LinkSecret: local backend, HMAC key for links (at least 16 bytes). Never logged.
	LinkSecret []byte
	// ObjectLock: "", "GOVERNANCE" or "COMPLIANCE" (S3 only). Object Lock can only be enabled when the
	// bucket is created; Open creates the bucket with it, or refuses an existing bucket without it.
	ObjectLock string
	// ObjectLockDays: default retention of each object version under ObjectLock (required with it).
	ObjectLockDays int
	// Credentials: where the S3 access and secret key come from (see CredentialsSource).
	Credentials CredentialsSource
	Log         *zap.Logger

	// Now is the clock used for retention and link expiry; tests inject one. Default time.Now.
	Now func() time.Time
	// PruneInterval: local backend, how often expired artefacts are removed (default: Retention/24,
	// at most one hour, at least one minute). Negative disables the timer.
	PruneInterval time.Duration
	// TempDir: S3 backend, where a Put without a known SHA-256 spools the stream to compute it before
	// upload (S3 metadata must be sent first). Default os.TempDir().
	TempDir string
	// ReadOnly opens an existing store without provisioning it (issue 21 must 3: read-only commands
	// and servers with nats.provision false): S3 creates no bucket and sets no Object Lock or lifecycle
	// rule, and the bucket must exist; local creates no storage directory, which must exist (its
	// working subdirectories are host-local and still made).
	ReadOnly bool
}

func (o *Options) defaults() {
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Open chooses the backend by URL:
//
//	file:///var/lib/signet/artefacts        local directory (the embedded default)
//	s3://bucket/prefix?endpoint=host:port&region=eu-central-1&secure=true
//
// For s3:// the endpoint defaults to s3.amazonaws.com and secure to true; the prefix is optional.
// S3 credentials come from o.Credentials (see CredentialsSource); Open checks the bucket (creating it,
// with Object Lock if asked), sets the retention lifecycle rule, and fails with ErrUnavailable if S3
// cannot be reached.
func Open(ctx context.Context, rawURL string, o Options) (Store, error) {
	o.defaults()
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("storage: cannot parse storage URL (want file:///dir or s3://bucket/prefix?endpoint=host:port): %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("storage: file URL %q names host %q; use file:///absolute/path", u.Redacted(), u.Host)
		}
		if len(u.Query()) > 0 {
			return nil, fmt.Errorf("storage: file URL %q takes no query parameters", u.Redacted())
		}
		s, err := openLocal(u.Path, o)
		if err != nil {
			return nil, err
		}
		return s, nil
	case "s3":
		s, err := openS3(ctx, u, o)
		if err != nil {
			return nil, err
		}
		return s, nil
	default:
		return nil, fmt.Errorf("storage: unsupported storage URL scheme %q; use file:///dir or s3://bucket/prefix?endpoint=host:port", u.Scheme)
	}
}

func checkExpiry(expiry time.Duration) error {
	if expiry < time.Second || expiry > MaxLinkExpiry {
		return fmt.Errorf("%w (asked for %s)", ErrExpiry, expiry)
	}
	return nil
}
