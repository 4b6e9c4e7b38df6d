package storage

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/lifecycle"
	"go.uber.org/zap"
)

const (
	// s3PartSize bounds the memory of one upload: minio-go buffers one part of a non-seekable stream.
	s3PartSize = 8 << 20
	// s3OpTimeout bounds metadata calls (stat, delete, ping, bucket setup) so an unreachable S3 turns
	// into ErrUnavailable instead of a hang; data transfers are bounded by the transport timeouts.
	s3OpTimeout = 15 * time.Second
	// s3MaxRetries: minio-go retries with backoff (200 ms unit, 1 s cap); 3 attempts keep an outage
	// report within a few seconds. Callers retry later themselves (ErrUnavailable).
	s3MaxRetries = 3
	// sha256Meta is stored as x-amz-meta-sha256.
	sha256Meta = "sha256"
)

type s3Store struct {
	c        *minio.Client
	tr       *http.Transport
	bucket   string
	prefix   string // "" or "a/b/" (with the trailing slash)
	endpoint string
	region   string
	md5      bool // bucket has Object Lock: AWS requires Content-MD5 (or a checksum) on every upload
	o        Options
	log      *zap.Logger
}

type s3Config struct {
	bucket, prefix, endpoint, region string
	secure                           bool
}

func parseS3URL(u *url.URL) (s3Config, error) {
	c := s3Config{bucket: u.Host, endpoint: "s3.amazonaws.com", secure: true}
	if u.User != nil {
		return c, fmt.Errorf("storage: S3 URL must not carry credentials; use SIGNET_S3_ACCESS_KEY/SIGNET_S3_SECRET_KEY or a credentials file")
	}
	if c.bucket == "" {
		return c, fmt.Errorf("storage: S3 URL has no bucket; use s3://bucket/prefix?endpoint=host:port")
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if err := ValidateKey(p); err != nil {
			return c, fmt.Errorf("storage: S3 URL prefix: %w", err)
		}
		c.prefix = p + "/"
	}
	for k, v := range u.Query() {
		val := v[len(v)-1]
		switch k {
		case "endpoint":
			c.endpoint = val
		case "region":
			c.region = val
		case "secure":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return c, fmt.Errorf("storage: S3 URL: secure=%q is not true or false", val)
			}
			c.secure = b
		default:
			return c, fmt.Errorf("storage: S3 URL: unknown parameter %q (known: endpoint, region, secure)", k)
		}
	}
	return c, nil
}

func openS3(ctx context.Context, u *url.URL, o Options) (*s3Store, error) {
	cfg, err := parseS3URL(u)
	if err != nil {
		return nil, err
	}
	cr, from, err := o.Credentials.resolve()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		DisableCompression:    true, // byte-exact bodies and lengths, as minio-go's own transport does
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	c, err := minio.New(cfg.endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(cr.access, cr.secret, cr.token),
		Secure:     cfg.secure,
		Region:     cfg.region,
		Transport:  tr,
		MaxRetries: s3MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: S3 endpoint %q: %w", cfg.endpoint, err)
	}
	s := &s3Store{c: c, tr: tr, bucket: cfg.bucket, prefix: cfg.prefix, endpoint: cfg.endpoint, region: cfg.region, o: o,
		log: o.Log.With(zap.String("storage", "s3"), zap.String("endpoint", cfg.endpoint), zap.String("bucket", cfg.bucket), zap.String("prefix", cfg.prefix))}
	if err := s.setupBucket(ctx); err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	s.log.Info("S3 storage ready", zap.String("credentials", from), zap.Duration("retention", o.Retention), zap.String("object_lock", o.ObjectLock))
	return s, nil
}

// setupBucket creates the bucket if needed (with Object Lock if asked: S3 allows enabling it only at
// creation), checks an existing bucket's Object Lock, and installs the retention lifecycle rule.
func (s *s3Store) setupBucket(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*s3OpTimeout)
	defer cancel()
	var mode minio.RetentionMode
	switch s.o.ObjectLock {
	case "":
	case "GOVERNANCE":
		mode = minio.Governance
	case "COMPLIANCE":
		mode = minio.Compliance
	default:
		return fmt.Errorf("storage: ObjectLock %q: use \"\", \"GOVERNANCE\" or \"COMPLIANCE\"", s.o.ObjectLock)
	}
	if mode != "" && s.o.ObjectLockDays <= 0 {
		return fmt.Errorf("storage: ObjectLock %s needs ObjectLockDays > 0", mode)
	}
	exists, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.wrap(ctx, "check bucket", "", err)
	}
	if s.o.ReadOnly {
		// Look, never set: another process (`signet setup`, the owner) provisions the bucket.
		if !exists {
			return fmt.Errorf("storage: bucket %q at %s does not exist; run `signet setup` or start a server that provisions (nats.provision true)", s.bucket, s.endpoint)
		}
		enabled, _, _, _, err := s.c.GetObjectLockConfig(ctx, s.bucket)
		s.md5 = err == nil && enabled == "Enabled"
		return nil
	}
	if !exists {
		err := s.c.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region, ObjectLocking: mode != ""})
		if code := minio.ToErrorResponse(err).Code; err != nil && code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
			return s.wrap(ctx, "create bucket", "", err)
		}
		s.log.Info("created bucket", zap.Bool("object_lock", mode != ""))
	}
	if mode == "" {
		// Not asked for, but the bucket may have it (made by an administrator): uploads then need MD5s.
		// Errors (no configuration, no permission to read it) just mean "assume not".
		enabled, _, _, _, err := s.c.GetObjectLockConfig(ctx, s.bucket)
		s.md5 = err == nil && enabled == "Enabled"
	}
	if mode != "" {
		s.md5 = true
		enabled, curMode, validity, unit, err := s.c.GetObjectLockConfig(ctx, s.bucket)
		if err != nil && minio.ToErrorResponse(err).Code != "ObjectLockConfigurationNotFoundError" {
			return s.wrap(ctx, "read Object Lock configuration", "", err)
		}
		if enabled != "Enabled" {
			return fmt.Errorf("storage: bucket %q exists without Object Lock, and S3 can only enable Object Lock when a bucket is created; use a new bucket name (Signet creates it with Object Lock) or set ObjectLock to \"\"", s.bucket)
		}
		days := uint(s.o.ObjectLockDays)
		if curMode == nil || *curMode != mode || validity == nil || *validity != days || unit == nil || *unit != minio.Days {
			d := minio.Days
			if err := s.c.SetObjectLockConfig(ctx, s.bucket, &mode, &days, &d); err != nil {
				return s.wrap(ctx, "set default Object Lock retention", "", err)
			}
		}
		if mode == minio.Compliance && time.Duration(days)*24*time.Hour > s.o.Retention {
			s.log.Warn("COMPLIANCE lock outlasts the retention period: versions are deleted only when their lock ends",
				zap.Int("lock_days", int(days)), zap.Duration("retention", s.o.Retention))
		}
	}
	return s.setLifecycle(ctx)
}

// lifecycleRuleID names our rule so other rules on the bucket (an administrator's) are kept.
func (s *s3Store) lifecycleRuleID() string { return "signet-retention:" + s.prefix }

// retentionDays rounds up: S3 lifecycle rules count whole days.
func retentionDays(d time.Duration) int {
	return int((d + 24*time.Hour - 1) / (24 * time.Hour))
}

// setLifecycle expires current versions after the retention period and, because a versioned (or
// locked) bucket keeps old versions after expiry or overwrite, noncurrent versions too. S3 applies the
// rule eventually (MinIO's scanner, AWS daily), not at an exact time.
func (s *s3Store) setLifecycle(ctx context.Context) error {
	days := lifecycle.ExpirationDays(retentionDays(s.o.Retention))
	cfg, err := s.c.GetBucketLifecycle(ctx, s.bucket)
	if err != nil {
		if minio.ToErrorResponse(err).Code != "NoSuchLifecycleConfiguration" {
			return s.wrap(ctx, "read lifecycle configuration", "", err)
		}
		cfg = lifecycle.NewConfiguration()
	}
	rule := lifecycle.Rule{
		ID:                          s.lifecycleRuleID(),
		Status:                      "Enabled",
		RuleFilter:                  lifecycle.Filter{Prefix: s.prefix},
		Expiration:                  lifecycle.Expiration{Days: days},
		NoncurrentVersionExpiration: lifecycle.NoncurrentVersionExpiration{NoncurrentDays: days},
	}
	rules := []lifecycle.Rule{rule}
	for _, r := range cfg.Rules {
		if r.ID != rule.ID {
			rules = append(rules, r)
		}
	}
	cfg.Rules = rules
	if err := s.c.SetBucketLifecycle(ctx, s.bucket, cfg); err != nil {
		return s.wrap(ctx, "set retention lifecycle rule (needs s3:PutLifecycleConfiguration)", "", err)
	}
	return nil
}

func (s *s3Store) objectKey(key string) string { return s.prefix + key }

// wrap classifies an S3 error once: ErrNotFound, ErrUnavailable (network, timeouts, 5xx, throttling:
// retry later) or a plain error naming the operation, key and bucket. Credentials are never included
// (minio-go errors do not carry them).
func (s *s3Store) wrap(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	where := fmt.Sprintf("%s in bucket %q at %s", op, s.bucket, s.endpoint)
	if key != "" {
		where = fmt.Sprintf("%s %q in bucket %q at %s", op, key, s.bucket, s.endpoint)
	}
	if errors.Is(err, ErrIntegrity) || errors.Is(err, ErrChecksumMismatch) || errors.Is(err, ErrNotFound) {
		return err
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey", "NoSuchVersion":
		return fmt.Errorf("%w: %s", ErrNotFound, where)
	case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "XMinioServerNotInitialized",
		"XMinioStorageFull", "XMinioReadQuorum", "XMinioWriteQuorum", "OperationTimedOut":
		return fmt.Errorf("%w: storage: %s: %w; retry later", ErrUnavailable, where, err)
	}
	if resp.StatusCode >= 500 {
		return fmt.Errorf("%w: storage: %s: %w; retry later", ErrUnavailable, where, err)
	}
	if resp.StatusCode == 0 && isTransient(err) {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(cerr, context.DeadlineExceeded) {
			return fmt.Errorf("storage: %s: %w", where, cerr) // the caller gave up; not an outage
		}
		return fmt.Errorf("%w: storage: %s: S3 unreachable (%v); retry later", ErrUnavailable, where, err)
	}
	if resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("storage: %s: access denied (%s); check the S3 credentials and bucket policy: %w", where, resp.Code, err)
	}
	return fmt.Errorf("storage: %s: %w", where, err)
}

func isTransient(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, context.DeadlineExceeded)
}

func (s *s3Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256Hex string) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	want, err := parseSHA256(sha256Hex)
	if err != nil {
		return Object{}, fmt.Errorf("%w (key %q)", err, key)
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	if want == "" {
		// The digest goes into the object's metadata, which S3 takes before the body, so an unknown
		// digest is computed first by spooling the stream to a temp file (disk, not memory).
		f, n, sum, err := s.spool(ctx, key, r, size)
		if err != nil {
			return Object{}, err
		}
		defer func() { f.Close(); os.Remove(f.Name()) }()
		if old, err := s.Stat(ctx, key); err == nil && old.SHA256 == sum {
			return old, nil
		} else if errors.Is(err, ErrUnavailable) {
			return Object{}, err
		}
		return s.upload(ctx, key, f, n, contentType, sum)
	}
	if old, err := s.Stat(ctx, key); err == nil && old.SHA256 == want {
		return old, nil
	} else if errors.Is(err, ErrUnavailable) {
		return Object{}, err
	}
	// Streamed straight to S3; the putReader withholds the last byte unless the digest matches, so a
	// mismatch leaves a short single PUT or an aborted multipart upload: nothing stored.
	pr := newPutReader(ctxReader{ctx, r}, key, want, size)
	obj, err := s.upload(ctx, key, pr, size, contentType, want)
	if pr.err != nil {
		return Object{}, pr.err
	}
	return obj, err
}

func (s *s3Store) spool(ctx context.Context, key string, r io.Reader, size int64) (*os.File, int64, string, error) {
	f, err := os.CreateTemp(s.o.TempDir, "signet-put-*")
	if err != nil {
		return nil, 0, "", fmt.Errorf("storage: put %q: cannot create temp file to compute the SHA-256 (pass the digest to avoid it): %w", key, err)
	}
	pr := newPutReader(ctxReader{ctx, r}, key, "", size)
	_, err = io.Copy(f, pr)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, "", err
	}
	return f, pr.n, pr.sum(), nil
}

func (s *s3Store) upload(ctx context.Context, key string, r io.Reader, size int64, contentType, sum string) (Object, error) {
	info, err := s.c.PutObject(ctx, s.bucket, s.objectKey(key), r, size, minio.PutObjectOptions{
		ContentType:  contentType,
		UserMetadata: map[string]string{sha256Meta: sum},
		PartSize:     s3PartSize,
		// With MD5 minio-go buffers a non-seekable single PUT (≤ one part, 8 MiB) to hash it first.
		SendContentMd5: s.md5,
	})
	if err != nil {
		return Object{}, s.wrap(ctx, "put", key, err)
	}
	mod := info.LastModified
	if mod.IsZero() {
		mod = s.o.Now()
	}
	return Object{Key: key, Size: info.Size, SHA256: sum, ContentType: contentType, Modified: mod.UTC()}, nil
}

// objectFrom reads Signet's record from an object's metadata; an object without a valid one was not
// written by Signet (or was replaced behind its back) and is not trusted.
func (s *s3Store) objectFrom(key string, info minio.ObjectInfo) (Object, error) {
	sum := strings.ToLower(info.Metadata.Get("X-Amz-Meta-" + sha256Meta))
	if _, err := parseSHA256(sum); err != nil || sum == "" {
		return Object{}, fmt.Errorf("%w: %q in bucket %q has no valid x-amz-meta-sha256; it was not written by Signet; put it again", ErrIntegrity, key, s.bucket)
	}
	return Object{Key: key, Size: info.Size, SHA256: sum, ContentType: info.ContentType, Modified: info.LastModified.UTC()}, nil
}

func (s *s3Store) Stat(ctx context.Context, key string) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	info, err := s.c.StatObject(ctx, s.bucket, s.objectKey(key), minio.StatObjectOptions{})
	if err != nil {
		return Object{}, s.wrap(ctx, "stat", key, err)
	}
	return s.objectFrom(key, info)
}

func (s *s3Store) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := ValidateKey(key); err != nil {
		return nil, Object{}, err
	}
	o, err := s.c.GetObject(ctx, s.bucket, s.objectKey(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, Object{}, s.wrap(ctx, "get", key, err)
	}
	info, err := o.Stat() // issues the GET; the body read later belongs to the same response
	if err != nil {
		o.Close()
		return nil, Object{}, s.wrap(ctx, "get", key, err)
	}
	obj, err := s.objectFrom(key, info)
	if err != nil {
		o.Close()
		return nil, Object{}, err
	}
	return newGetReader(s3Body{o, s, ctx, key}, obj), obj, nil
}

// s3Body classifies errors of a body read (a connection lost mid-download is ErrUnavailable).
type s3Body struct {
	o   *minio.Object
	s   *s3Store
	ctx context.Context
	key string
}

func (b s3Body) Read(p []byte) (int, error) {
	n, err := b.o.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = b.s.wrap(b.ctx, "get", b.key, err)
	}
	return n, err
}

func (b s3Body) Close() error { return b.o.Close() }

func (s *s3Store) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	if err := s.c.RemoveObject(ctx, s.bucket, s.objectKey(key), minio.RemoveObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil
		}
		return s.wrap(ctx, "delete", key, err)
	}
	return nil
}

func (s *s3Store) URL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	if err := checkExpiry(expiry); err != nil {
		return "", fmt.Errorf("storage: link for %q: %w", key, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	q := url.Values{}
	q.Set("response-content-disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(key)}))
	u, err := s.c.PresignedGetObject(ctx, s.bucket, s.objectKey(key), expiry, q)
	if err != nil {
		return "", s.wrap(ctx, "presign", key, err)
	}
	return u.String(), nil
}

func (s *s3Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		if e := s.wrap(ctx, "ping", "", err); errors.Is(e, ErrUnavailable) {
			return e
		}
		return fmt.Errorf("%w: storage: ping bucket %q at %s: %v", ErrUnavailable, s.bucket, s.endpoint, err)
	}
	if !ok {
		return fmt.Errorf("%w: storage: bucket %q at %s does not exist; run `signet setup` or restart Signet to create it", ErrUnavailable, s.bucket, s.endpoint)
	}
	return nil
}

func (s *s3Store) Close() error {
	s.tr.CloseIdleConnections()
	return nil
}
