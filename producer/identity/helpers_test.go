package identity

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

type fixture struct {
	svc   *Service
	js    jetstream.JetStream
	clock *testenv.Clock
	keys  *Keys
	// keyLines are the "id:base64" lines keys was loaded from (a rotation test needs them).
	keyLines []string
	logs     *observer.ObservedLogs
	cfg      Config
}

func testKeys(t *testing.T, n int) (*Keys, []string) {
	t.Helper()
	var lines []string
	for range n {
		l, err := GenerateKeyLine()
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	k, err := LoadKeys(strings.Join(lines, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return k, lines
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := natstest.Start(t)
	keys, lines := testKeys(t, 1)
	core, logs := observer.New(zap.DebugLevel)
	f := &fixture{js: srv.JS, clock: testenv.NewClock(), keys: keys, keyLines: lines, logs: logs}
	f.cfg = Config{Keys: keys, Clock: f.clock.Now, Log: zap.New(core), PublicURL: "http://signet.test:8080/"}
	svc, err := New(context.Background(), srv.JS, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

// reopen builds a second Service on the same buckets with other keys (a restart after rotation).
func (f *fixture) reopen(t *testing.T, keys *Keys) *Service {
	t.Helper()
	cfg := f.cfg
	cfg.Keys = keys
	svc, err := New(context.Background(), f.js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// addUser adds login and returns it.
func (f *fixture) addUser(t *testing.T, login string) {
	t.Helper()
	if err := f.svc.AddUser(context.Background(), User{Login: login, Description: "test user", Credentials: []string{cred}}); err != nil {
		t.Fatal(err)
	}
}

// startEnrolment starts login's enrolment and opens the link's page, as the user would; it returns
// the link, its token and what the page shows.
func (f *fixture) startEnrolment(t *testing.T, login string) (link, tok string, p *PendingEnrolment) {
	t.Helper()
	ctx := context.Background()
	link, _, err := f.svc.StartEnrolment(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	tok = testenv.EnrolmentToken(t, link)
	if p, err = f.svc.PendingSecret(ctx, tok); err != nil {
		t.Fatal(err)
	}
	return link, tok, p
}

// enrol runs the real enrolment (link → page secret → oathtool code → confirm) and returns the
// secret; the clock is then moved one step on, so the confirming code's step is in the past.
func (f *fixture) enrol(t *testing.T, login string) string {
	t.Helper()
	_, tok, p := f.startEnrolment(t, login)
	if err := f.svc.ConfirmEnrolment(context.Background(), tok, testenv.TOTP(t, p.Secret, f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	return p.Secret
}

// newUserFixture is newFixture with the logins added as users.
func newUserFixture(t *testing.T, logins ...string) *fixture {
	t.Helper()
	f := newFixture(t)
	for _, login := range logins {
		f.addUser(t, login)
	}
	return f
}

// newEnrolledFixture is newUserFixture with login also enrolled; it returns login's secret.
func newEnrolledFixture(t *testing.T, login string) (*fixture, string) {
	t.Helper()
	f := newUserFixture(t, login)
	return f, f.enrol(t, login)
}

// noSecretsLogged fails if any log entry holds one of the secrets.
func (f *fixture) noSecretsLogged(t *testing.T, secrets ...string) {
	t.Helper()
	testenv.NoSecretsLogged(t, f.logs, secrets...)
}
