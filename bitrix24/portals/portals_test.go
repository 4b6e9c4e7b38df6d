package portals_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

// testSealer seals with AES-256-GCM under a random key of its own, the aad bound, into JSON (the
// registry stores a sealed record as a JSON value), as Signet's sealer (producer/identity.Keys) does; a record sealed by one does not
// open with another. It keeps the registry's test free of the producer (arch_test.go).
type testSealer struct{ aead cipher.AEAD }

func keys(t *testing.T) *testSealer {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &testSealer{aead: aead}
}

func (s *testSealer) Seal(plain []byte, aad string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return json.Marshal(sealedRecord{Nonce: nonce, Data: s.aead.Seal(nil, nonce, plain, []byte(aad))})
}

type sealedRecord struct{ Nonce, Data []byte }

func (s *testSealer) Open(data []byte, aad string) ([]byte, error) {
	var r sealedRecord
	if err := json.Unmarshal(data, &r); err != nil || len(r.Nonce) != s.aead.NonceSize() {
		return nil, errors.New("not a sealed record")
	}
	return s.aead.Open(nil, r.Nonce, r.Data, []byte(aad))
}

// The access token, refresh token and application_token are never in the bucket in clear, and a
// record read with other keys does not open.
func TestTokensAreSealedAtRest(t *testing.T) {
	ctx := context.Background()
	ns := natstest.Start(t)
	reg, err := portals.Open(ctx, ns.JS, 1, keys(t))
	if err != nil {
		t.Fatal(err)
	}
	a := bitrix24.Auth{AccessToken: "access-SECRET-1", RefreshToken: "refresh-SECRET-2", ApplicationToken: "apptoken-SECRET-3",
		MemberID: "abc123", Domain: "acme.bitrix24.com", ClientEndpoint: "https://acme.bitrix24.com/rest/", Scope: "crm,bizproc"}
	if err := reg.Put(ctx, a, time.Now()); err != nil {
		t.Fatal(err)
	}
	kv, err := ns.JS.KeyValue(ctx, contracts.BucketPortals)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "m.abc123")
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{a.AccessToken, a.RefreshToken, a.ApplicationToken} {
		if bytes.Contains(e.Value(), []byte(secret)) {
			t.Fatalf("the stored record holds %q in clear", secret)
		}
	}
	if !bytes.Contains(e.Value(), []byte("acme.bitrix24.com")) {
		t.Fatal("domain and endpoints stay readable for operators")
	}
	got, err := reg.Load(ctx, "abc123")
	if err != nil || got.AccessToken != a.AccessToken || got.RefreshToken != a.RefreshToken || got.ApplicationToken != a.ApplicationToken || got.Scope != a.Scope {
		t.Fatalf("load: %+v %v", got, err)
	}
	other, err := portals.Open(ctx, ns.JS, 1, keys(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Load(ctx, "abc123"); err == nil {
		t.Fatal("a record must not open with another key")
	}
	if err := reg.Delete(ctx, "abc123"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Load(ctx, "abc123"); err == nil {
		t.Fatal("uninstalled portal still loads")
	}
}

// Save (the token store of the REST client) keeps the application_token and survives concurrent
// savers through the KV revision check: the last rotated pair wins, none is lost half-written.
func TestSaveRotatesTokensAtomically(t *testing.T) {
	ctx := context.Background()
	ns := natstest.Start(t)
	reg, err := portals.Open(ctx, ns.JS, 1, keys(t))
	if err != nil {
		t.Fatal(err)
	}
	base := bitrix24.Auth{AccessToken: "a0", RefreshToken: "r0", ApplicationToken: "app", MemberID: "m1", Domain: "x.bitrix24.com"}
	if err := reg.Put(ctx, base, time.Now()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := base
			a.ApplicationToken = "" // a refresh answer carries none
			a.AccessToken, a.RefreshToken = "a"+string(rune('1'+i)), "r"+string(rune('1'+i))
			if err := reg.Save(ctx, a); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := reg.Load(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ApplicationToken != "app" || got.AccessToken[1:] != got.RefreshToken[1:] || got.AccessToken == "a0" {
		t.Fatalf("after concurrent saves: access=%s refresh=%s app=%s", got.AccessToken, got.RefreshToken, got.ApplicationToken)
	}
}

// countingSealer counts how often a record is unsealed.
type countingSealer struct {
	*testSealer
	mu    sync.Mutex
	opens int
}

func (c *countingSealer) Open(data []byte, aad string) ([]byte, error) {
	c.mu.Lock()
	c.opens++
	c.mu.Unlock()
	return c.testSealer.Open(data, aad)
}

// Every REST call reads its portal, so a revision already decoded is not unsealed again; but tokens
// rotated by another process (a new revision) are seen at once.
func TestGetDecodesEachRevisionOnce(t *testing.T) {
	ctx := context.Background()
	ns := natstest.Start(t)
	k := keys(t)
	sealer := &countingSealer{testSealer: k}
	reg, err := portals.Open(ctx, ns.JS, 1, sealer)
	if err != nil {
		t.Fatal(err)
	}
	other, err := portals.Open(ctx, ns.JS, 1, k) // another process sharing the bucket and the keys
	if err != nil {
		t.Fatal(err)
	}
	base := bitrix24.Auth{AccessToken: "a0", RefreshToken: "r0", ApplicationToken: "app", MemberID: "m1", Domain: "x.bitrix24.com"}
	if err := other.Put(ctx, base, time.Now()); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if got, err := reg.Load(ctx, "m1"); err != nil || got.AccessToken != "a0" {
			t.Fatalf("load: %+v %v", got, err)
		}
	}
	if sealer.opens != 1 {
		t.Fatalf("5 reads of one revision unsealed it %d times, want 1", sealer.opens)
	}
	rotated := base
	rotated.AccessToken, rotated.RefreshToken = "a1", "r1"
	if err := other.Save(ctx, rotated); err != nil {
		t.Fatal(err)
	}
	if got, err := reg.Load(ctx, "m1"); err != nil || got.AccessToken != "a1" || got.RefreshToken != "r1" {
		t.Fatalf("after another process rotated the tokens: %+v %v", got, err)
	}
	if sealer.opens != 2 {
		t.Fatalf("the new revision was unsealed %d times in all, want 2", sealer.opens)
	}
}

// Store is a compare-and-set (two installs at once: one wins), ByDomain finds a portal by its
// registered domain, Save (rotated tokens) never moves a portal, Move does.
func TestStoreByDomainMove(t *testing.T) {
	ctx := context.Background()
	ns := natstest.Start(t)
	reg, err := portals.Open(ctx, ns.JS, 1, keys(t))
	if err != nil {
		t.Fatal(err)
	}
	p := portals.Portal{Auth: bitrix24.Auth{MemberID: "m1", Domain: "acme.bitrix24.com", ClientEndpoint: "https://acme.bitrix24.com/rest/",
		AccessToken: "at", RefreshToken: "rt", ApplicationToken: "app"}, Install: portals.Install{TokenSource: portals.TokenProven}}
	if err := reg.Store(ctx, p, 0); err != nil {
		t.Fatal(err)
	}
	if err := reg.Store(ctx, p, 0); !errors.Is(err, portals.ErrChanged) {
		t.Fatalf("second create: %v", err)
	}
	got, rev, err := reg.Get(ctx, "m1")
	if err != nil || got.Install.TokenSource != portals.TokenProven {
		t.Fatalf("get: %+v %v", got, err)
	}
	if err := reg.Store(ctx, *got, rev); err != nil {
		t.Fatal(err)
	}
	if err := reg.Store(ctx, *got, rev); !errors.Is(err, portals.ErrChanged) {
		t.Fatalf("stale revision: %v", err)
	}
	if q, err := reg.ByDomain(ctx, "ACME.bitrix24.com"); err != nil || q.Auth.MemberID != "m1" {
		t.Fatalf("by domain: %v", err)
	}
	if _, err := reg.ByDomain(ctx, "other.bitrix24.com"); !errors.Is(err, portals.ErrUnknownPortal) {
		t.Fatalf("unknown domain: %v", err)
	}
	moved := got.Auth
	moved.Domain, moved.ClientEndpoint, moved.AccessToken = "evil.example", "http://evil.example/rest/", "at2"
	if err := reg.Save(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if a, _ := reg.Load(ctx, "m1"); a.Domain != "acme.bitrix24.com" || a.ClientEndpoint != "https://acme.bitrix24.com/rest/" || a.AccessToken != "at2" {
		t.Fatalf("Save moved the portal: %+v", a)
	}
	if err := reg.Move(ctx, "m1", "https", "acme-new.bitrix24.com"); err != nil {
		t.Fatal(err)
	}
	if a, _ := reg.Load(ctx, "m1"); a.ClientEndpoint != "https://acme-new.bitrix24.com/rest/" || a.AccessToken != "at2" {
		t.Fatalf("after Move: %+v", a)
	}
	if err := reg.Move(ctx, "m1", "https", "x/../y"); err == nil {
		t.Fatal("Move accepted a path as a domain")
	}
}

// A portal record's read gives up on its own although the caller's deadline is far: the REST client
// reads the record inside a Batcher request, which has 10 minutes, and nats.go's own 5 s timeout
// applies only to a context without a deadline. A read whose reply never comes (here: the server is
// gone and the request waits in the reconnect buffer; in TestMultiHost: the reply died with the stream
// leader) held the portal's batch queue, and every job and callback of the worker, for the 10 minutes
// (issue 21 must 7, docs/testing.md).
func TestLoadGivesUpWhenTheReplyNeverComes(t *testing.T) {
	ns := natstest.Start(t)
	reg, err := portals.Open(context.Background(), ns.JS, 1, keys(t))
	if err != nil {
		t.Fatal(err)
	}
	a := bitrix24.Auth{AccessToken: "a0", RefreshToken: "r0", ApplicationToken: "app", MemberID: "m1", Domain: "x.bitrix24.com"}
	if err := reg.Put(context.Background(), a, time.Now()); err != nil {
		t.Fatal(err)
	}
	ns.Srv.Shutdown()
	ns.Srv.WaitForShutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a Batcher request's deadline
	defer cancel()
	_, err = reg.Load(ctx, "m1")
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("load with NATS gone: %v (caller's context: %v), want the read's own deadline to end it", err, ctx.Err())
	}
	rotated := a
	rotated.AccessToken = "a1"
	if err := reg.Save(ctx, rotated); !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("save with NATS gone: %v (caller's context: %v), want the write's own deadline to end it", err, ctx.Err())
	}
}
