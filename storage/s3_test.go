package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/lifecycle"
	"github.com/signet-b24/signet/storage"
	"github.com/signet-b24/signet/storage/miniotest"
)

func creds(srv *miniotest.Server) storage.CredentialsSource {
	return storage.CredentialsSource{AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
}

func openS3(t *testing.T, srv *miniotest.Server, bucket, prefix string, o storage.Options) storage.Store {
	t.Helper()
	o.Credentials = creds(srv)
	st, err := storage.Open(context.Background(), srv.URL(bucket, prefix), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func hexSum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func getAll(st storage.Store, key string) ([]byte, error) {
	rc, _, err := st.Get(context.Background(), key)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return b, err
}

// stream is a deterministic pseudo-random byte stream that is deliberately not an io.Seeker or
// io.ReaderAt, like a PDF piped from the signer.
func stream(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return io.LimitReader(struct{ io.Reader }{rand.NewChaCha8(s)}, n)
}

func streamSum(seed uint64, n int64) string {
	h := sha256.New()
	io.Copy(h, stream(seed, n))
	return hex.EncodeToString(h.Sum(nil))
}

func TestS3(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	raw := srv.Client(t)
	st := openS3(t, srv, "artefacts", "prod", storage.Options{})
	pdf, p7s, _ := storage.ArtefactKeys("acme.bitrix24.ru", time.Now(), "deal-42", "job-1")

	t.Run("PutGetStatIdempotent", func(t *testing.T) {
		data := []byte("%PDF-1.7 signed")
		obj, err := st.Put(ctx, pdf, bytes.NewReader(data), int64(len(data)), "application/pdf", "")
		if err != nil {
			t.Fatal(err)
		}
		if obj.SHA256 != hexSum(data) || obj.Size != int64(len(data)) || obj.Key != pdf {
			t.Fatalf("Put = %+v", obj)
		}
		// The digest is in the object's metadata, under the prefix from the URL.
		info, err := raw.StatObject(ctx, "artefacts", "prod/"+pdf, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Metadata.Get("X-Amz-Meta-Sha256"); got != hexSum(data) {
			t.Fatalf("x-amz-meta-sha256 = %q, want %s", got, hexSum(data))
		}
		if info.ContentType != "application/pdf" {
			t.Fatalf("content type %q", info.ContentType)
		}
		sobj, err := st.Stat(ctx, pdf)
		if err != nil || sobj.SHA256 != obj.SHA256 || sobj.Size != obj.Size || sobj.ContentType != "application/pdf" {
			t.Fatalf("Stat = %+v, %v", sobj, err)
		}
		if b, err := getAll(st, pdf); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("Get = %q, %v", b, err)
		}
		// Idempotent: same bytes, with or without the digest, return the stored object unchanged.
		for _, given := range []string{"", hexSum(data)} {
			again, err := st.Put(ctx, pdf, bytes.NewReader(data), -1, "application/pdf", given)
			if err != nil || again != sobj {
				t.Fatalf("repeated Put(sha %q) = %+v, %v; want %+v", given, again, err, sobj)
			}
		}
		if _, err := st.Stat(ctx, p7s); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Stat(missing) = %v, want ErrNotFound", err)
		}
		if _, _, err := st.Get(ctx, p7s); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
		}
		if err := st.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("WrongDigestStoresNothing", func(t *testing.T) {
		data := []byte("cms bytes")
		wrong := hexSum([]byte("something else"))
		for _, size := range []int64{int64(len(data)), -1} {
			_, err := st.Put(ctx, p7s, bytes.NewReader(data), size, "application/pkcs7-signature", wrong)
			if !errors.Is(err, storage.ErrChecksumMismatch) {
				t.Fatalf("Put(size %d) with wrong digest = %v, want ErrChecksumMismatch", size, err)
			}
			if _, err := raw.StatObject(ctx, "artefacts", "prod/"+p7s, minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
				t.Fatalf("after refused Put(size %d) the object exists: %v", size, err)
			}
		}
		// Over an existing object: the old bytes stay.
		before, _ := getAll(st, pdf)
		if _, err := st.Put(ctx, pdf, strings.NewReader("other"), 5, "", wrong); !errors.Is(err, storage.ErrChecksumMismatch) {
			t.Fatalf("overwrite with wrong digest = %v", err)
		}
		if after, err := getAll(st, pdf); err != nil || !bytes.Equal(after, before) {
			t.Fatalf("after refused overwrite: %q, %v", after, err)
		}
	})

	t.Run("TamperedObject", func(t *testing.T) {
		key := "signed/acme/2026/11/g/tamper.pdf"
		data := bytes.Repeat([]byte("genuine "), 1000)
		if _, err := st.Put(ctx, key, bytes.NewReader(data), -1, "application/pdf", ""); err != nil {
			t.Fatal(err)
		}
		// Replaced behind Signet's back with the original metadata copied: caught at EOF.
		forged := bytes.Repeat([]byte("forged! "), 1000)
		_, err := raw.PutObject(ctx, "artefacts", "prod/"+key, bytes.NewReader(forged), int64(len(forged)),
			minio.PutObjectOptions{ContentType: "application/pdf", UserMetadata: map[string]string{"sha256": hexSum(data)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := getAll(st, key); !errors.Is(err, storage.ErrIntegrity) {
			t.Fatalf("Get of a forged object = %v, want ErrIntegrity", err)
		}
		// Replaced without any metadata: not trusted at all.
		if _, err := raw.PutObject(ctx, "artefacts", "prod/"+key, bytes.NewReader(forged), int64(len(forged)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.Get(ctx, key); !errors.Is(err, storage.ErrIntegrity) {
			t.Fatalf("Get of an object without digest = %v, want ErrIntegrity", err)
		}
		if _, err := st.Stat(ctx, key); !errors.Is(err, storage.ErrIntegrity) {
			t.Fatalf("Stat of an object without digest = %v, want ErrIntegrity", err)
		}
		// Putting the genuine bytes again repairs it.
		if _, err := st.Put(ctx, key, bytes.NewReader(data), -1, "application/pdf", hexSum(data)); err != nil {
			t.Fatal(err)
		}
		if b, err := getAll(st, key); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("after repair: %d bytes, %v", len(b), err)
		}
	})

	t.Run("LifecycleRule", func(t *testing.T) {
		lc, err := raw.GetBucketLifecycle(ctx, "artefacts")
		if err != nil {
			t.Fatal(err)
		}
		var found *lifecycle.Rule
		for i, r := range lc.Rules {
			if r.ID == "signet-retention:prod/" {
				found = &lc.Rules[i]
			}
		}
		if found == nil {
			t.Fatalf("no signet retention rule in %+v", lc.Rules)
		}
		if found.Status != "Enabled" || found.RuleFilter.Prefix != "prod/" || found.Expiration.Days != 14 || found.NoncurrentVersionExpiration.NoncurrentDays != 14 {
			t.Fatalf("retention rule = %+v; want enabled, prefix prod/, 14 days current and noncurrent", *found)
		}
	})

	t.Run("LifecycleKeepsOtherRules", func(t *testing.T) {
		// An administrator's rule on another prefix survives Open, and a second prefix gets its own rule.
		admin := lifecycle.NewConfiguration()
		admin.Rules = []lifecycle.Rule{{ID: "admin-logs", Status: "Enabled", RuleFilter: lifecycle.Filter{Prefix: "logs/"},
			Expiration: lifecycle.Expiration{Days: 3}}}
		if err := raw.MakeBucket(ctx, "shared", minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := raw.SetBucketLifecycle(ctx, "shared", admin); err != nil {
			t.Fatal(err)
		}
		openS3(t, srv, "shared", "", storage.Options{Retention: 36 * time.Hour})
		lc, err := raw.GetBucketLifecycle(ctx, "shared")
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]lifecycle.Rule{}
		for _, r := range lc.Rules {
			ids[r.ID] = r
		}
		if _, ok := ids["admin-logs"]; !ok {
			t.Fatalf("administrator's rule lost: %+v", lc.Rules)
		}
		if r, ok := ids["signet-retention:"]; !ok || r.Expiration.Days != 2 || r.NoncurrentVersionExpiration.NoncurrentDays != 2 {
			t.Fatalf("36 h retention should be a 2-day rule: %+v", lc.Rules)
		}
	})

	t.Run("PresignedURL", func(t *testing.T) {
		data := []byte("%PDF-1.7 download me")
		key := "signed/acme/2026/11/deal 7/job-x.pdf"
		if _, err := st.Put(ctx, key, bytes.NewReader(data), -1, "application/pdf", ""); err != nil {
			t.Fatal(err)
		}
		link, err := st.URL(ctx, key, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(link, srv.SecretKey) {
			t.Fatal("presigned URL contains the secret key")
		}
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(b, data) {
			t.Fatalf("GET presigned = %d %q", resp.StatusCode, b)
		}
		if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "job-x.pdf") {
			t.Fatalf("Content-Disposition = %q", cd)
		}
		if _, err := st.URL(ctx, key, 7*24*time.Hour+time.Second); !errors.Is(err, storage.ErrExpiry) {
			t.Fatalf("URL(7 d + 1 s) = %v, want ErrExpiry", err)
		}
		if _, err := st.URL(ctx, key, 7*24*time.Hour); err != nil {
			t.Fatalf("URL(7 d) = %v", err)
		}
	})

	t.Run("MultipartStream", func(t *testing.T) {
		const size = 20 << 20
		key := "signed/acme/2026/11/batch-9/big.pdf"
		want := streamSum(1, size)
		obj, err := st.Put(ctx, key, stream(1, size), size, "application/pdf", want)
		if err != nil {
			t.Fatal(err)
		}
		if obj.SHA256 != want || obj.Size != size {
			t.Fatalf("Put = %+v", obj)
		}
		info, err := raw.StatObject(ctx, "artefacts", "prod/"+key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(info.ETag, "-") {
			t.Fatalf("ETag %q is not a multipart ETag", info.ETag)
		}
		rc, _, err := st.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		if cerr := rc.Close(); err != nil || cerr != nil || n != size || hex.EncodeToString(h.Sum(nil)) != want {
			t.Fatalf("read back %d bytes, %v, %v", n, err, cerr)
		}

		// Unknown size and digest: spooled to disk, then uploaded.
		key2 := "signed/acme/2026/11/batch-9/big2.pdf"
		obj, err = st.Put(ctx, key2, stream(2, 12<<20), -1, "application/pdf", "")
		if err != nil || obj.SHA256 != streamSum(2, 12<<20) || obj.Size != 12<<20 {
			t.Fatalf("Put unknown size = %+v, %v", obj, err)
		}

		// A wrong digest on a multipart stream completes nothing and leaves no upload behind.
		key3 := "signed/acme/2026/11/batch-9/bad.pdf"
		if _, err := st.Put(ctx, key3, stream(3, size), -1, "application/pdf", want); !errors.Is(err, storage.ErrChecksumMismatch) {
			t.Fatalf("multipart Put with wrong digest = %v", err)
		}
		if _, err := raw.StatObject(ctx, "artefacts", "prod/"+key3, minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
			t.Fatalf("refused multipart upload left an object: %v", err)
		}
		for u := range raw.ListIncompleteUploads(ctx, "artefacts", "prod/"+key3, true) {
			if u.Err == nil {
				t.Fatalf("refused multipart upload left an incomplete upload: %+v", u)
			}
		}
	})

	t.Run("DeleteAndCredentials", func(t *testing.T) {
		key := "signed/acme/2026/11/g/del.json"
		if _, err := st.Put(ctx, key, strings.NewReader("{}"), 2, "application/json", ""); err != nil {
			t.Fatal(err)
		}
		if err := st.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Stat after Delete = %v", err)
		}
		if err := st.Delete(ctx, key); err != nil {
			t.Fatalf("Delete of a missing key = %v", err)
		}
		// Credentials from a file and from the environment.
		f := filepath.Join(t.TempDir(), "s3.env")
		os.WriteFile(f, []byte("# signet\nSIGNET_S3_ACCESS_KEY="+srv.AccessKey+"\nSIGNET_S3_SECRET_KEY=\""+srv.SecretKey+"\"\n"), 0o600)
		st2, err := storage.Open(ctx, srv.URL("artefacts", "prod"), storage.Options{Credentials: storage.CredentialsSource{File: f}})
		if err != nil {
			t.Fatalf("Open with credentials file: %v", err)
		}
		st2.Close()
		t.Setenv("SIGNET_S3_ACCESS_KEY", srv.AccessKey)
		t.Setenv("SIGNET_S3_SECRET_KEY", srv.SecretKey)
		st3, err := storage.Open(ctx, srv.URL("artefacts", "prod"), storage.Options{})
		if err != nil {
			t.Fatalf("Open with credentials from env: %v", err)
		}
		st3.Close()
		// Wrong secret: a clear error that is not an outage and does not echo the secret.
		_, err = storage.Open(ctx, srv.URL("artefacts", "prod"), storage.Options{Credentials: storage.CredentialsSource{AccessKey: srv.AccessKey, SecretKey: "wrong-secret-value"}})
		if err == nil || errors.Is(err, storage.ErrUnavailable) || strings.Contains(err.Error(), "wrong-secret-value") {
			t.Fatalf("Open with a wrong secret = %v", err)
		}
	})

	t.Run("ObjectLock", func(t *testing.T) {
		locked := openS3(t, srv, "locked", "", storage.Options{ObjectLock: "GOVERNANCE", ObjectLockDays: 3})
		enabled, mode, validity, unit, err := raw.GetObjectLockConfig(ctx, "locked")
		if err != nil {
			t.Fatal(err)
		}
		if enabled != "Enabled" || mode == nil || *mode != minio.Governance || validity == nil || *validity != 3 || unit == nil || *unit != minio.Days {
			t.Fatalf("lock config = %s %v %v %v", enabled, mode, validity, unit)
		}
		key := "signed/acme/2026/11/g/locked.pdf"
		data := []byte("%PDF-1.7 under lock")
		if _, err := locked.Put(ctx, key, bytes.NewReader(data), -1, "application/pdf", ""); err != nil {
			t.Fatal(err)
		}
		// Multipart uploads work under Object Lock too (each part carries its Content-MD5).
		big := "signed/acme/2026/11/g/locked-big.pdf"
		if _, err := locked.Put(ctx, big, stream(4, 12<<20), 12<<20, "application/pdf", streamSum(4, 12<<20)); err != nil {
			t.Fatalf("multipart Put under Object Lock: %v", err)
		}
		if _, err := locked.Put(ctx, big+".2", stream(4, 12<<20), -1, "application/pdf", streamSum(4, 12<<20)); err != nil {
			t.Fatalf("multipart Put of unknown size under Object Lock: %v", err)
		}
		if err := locked.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if _, err := locked.Stat(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Stat after Delete = %v (a delete marker hides the object)", err)
		}
		var versions []minio.ObjectInfo
		for v := range raw.ListObjects(ctx, "locked", minio.ListObjectsOptions{Prefix: key, WithVersions: true}) {
			if v.Err != nil {
				t.Fatal(v.Err)
			}
			if !v.IsDeleteMarker {
				versions = append(versions, v)
			}
		}
		if len(versions) != 1 {
			t.Fatalf("locked versions after Delete: %d, want 1", len(versions))
		}
		m, until, err := raw.GetObjectRetention(ctx, "locked", key, versions[0].VersionID)
		if err != nil || m == nil || *m != minio.Governance || until.Before(time.Now().Add(2*24*time.Hour)) {
			t.Fatalf("retention of the version = %v %v %v", m, until, err)
		}
		if err := raw.RemoveObject(ctx, "locked", key, minio.RemoveObjectOptions{VersionID: versions[0].VersionID}); err == nil {
			t.Fatal("deleting the locked version succeeded without governance bypass")
		}
		rc, err := raw.GetObject(ctx, "locked", key, minio.GetObjectOptions{VersionID: versions[0].VersionID})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("locked version = %q, %v", b, err)
		}
		// A bucket made without Object Lock cannot get it later.
		_, err = storage.Open(ctx, srv.URL("artefacts", "prod"), storage.Options{Credentials: creds(srv), ObjectLock: "COMPLIANCE", ObjectLockDays: 1})
		if err == nil || !strings.Contains(err.Error(), "only enable Object Lock when a bucket is created") {
			t.Fatalf("Open with Object Lock on an unlocked bucket = %v", err)
		}
	})
}

func TestS3Outage(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	st := openS3(t, srv, "outage", "", storage.Options{})
	before := []byte("stored before the outage")
	if _, err := st.Put(ctx, "signed/a/before.pdf", bytes.NewReader(before), -1, "", ""); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	data := []byte("during the outage")
	checks := map[string]func() error{
		"Put": func() error {
			_, err := st.Put(ctx, "signed/a/during.pdf", bytes.NewReader(data), int64(len(data)), "", hexSum(data))
			return err
		},
		"PutNoDigest": func() error {
			_, err := st.Put(ctx, "signed/a/during.pdf", bytes.NewReader(data), -1, "", "")
			return err
		},
		"Stat":   func() error { _, err := st.Stat(ctx, "signed/a/before.pdf"); return err },
		"Get":    func() error { _, err := getAll(st, "signed/a/before.pdf"); return err },
		"Delete": func() error { return st.Delete(ctx, "signed/a/before.pdf") },
		"Ping":   func() error { return st.Ping(ctx) },
	}
	for name, f := range checks {
		start := time.Now()
		err := f()
		t.Logf("%s while MinIO is down failed after %v", name, time.Since(start).Round(time.Millisecond))
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s while MinIO is down = %v, want ErrUnavailable", name, err)
		} else if strings.Contains(err.Error(), srv.SecretKey) {
			t.Errorf("%s error contains the secret key", name)
		}
	}
	if _, err := storage.Open(ctx, srv.URL("outage", ""), storage.Options{Credentials: creds(srv)}); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Open while MinIO is down = %v, want ErrUnavailable", err)
	}

	srv.Start()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
	if _, err := st.Put(ctx, "signed/a/after.pdf", bytes.NewReader(data), int64(len(data)), "", hexSum(data)); err != nil {
		t.Fatalf("Put after restart: %v", err)
	}
	if b, err := getAll(st, "signed/a/before.pdf"); err != nil || !bytes.Equal(b, before) {
		t.Fatalf("object stored before the outage: %q, %v", b, err)
	}
}

// ReadOnly (issue 21 must 3) creates no bucket and sets no lifecycle rule: a missing bucket is an
// error naming `signet setup`; an existing one keeps the rule its provisioner set.
func TestS3ReadOnlySetsNothing(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	if _, err := storage.Open(ctx, srv.URL("readonly", "p"), storage.Options{Credentials: creds(srv), ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "signet setup") {
		t.Fatalf("read-only open of a missing bucket: %v, want an error naming signet setup", err)
	}
	mc := srv.Client(t)
	if ok, err := mc.BucketExists(ctx, "readonly"); err != nil || ok {
		t.Fatalf("a read-only open made the bucket (exists %v, %v)", ok, err)
	}
	st, err := storage.Open(ctx, srv.URL("readonly", "p"), storage.Options{Credentials: creds(srv), Retention: 14 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	rules := func() string {
		lc, err := mc.GetBucketLifecycle(ctx, "readonly")
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%+v", lc.Rules)
	}
	before := rules()
	st, err = storage.Open(ctx, srv.URL("readonly", "p"), storage.Options{Credentials: creds(srv), Retention: 24 * time.Hour, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if after := rules(); after != before {
		t.Errorf("a read-only open changed the lifecycle rule:\nbefore %s\nafter  %s", before, after)
	}
}
