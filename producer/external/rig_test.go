package external

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/mail"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/sms"
	"github.com/signet-b24/signet/internal/testsupport/mailpit"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/internal/testsupport/smsru"
	"github.com/signet-b24/signet/storage"
)

// rig is a Service on a real NATS server, real Mailpit, an SMS.ru gateway and local storage holding
// one document under incoming/.
type rig struct {
	s     *Service
	ns    *natstest.Server
	mp    *mailpit.Server
	gw    *smsru.Gateway
	keys  *contracts.JobKeys
	clock *clock
	done  *doneLog
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type doneCall struct {
	route, step, party string
	outcome            contracts.Outcome
	reason             string
}

type doneLog struct {
	mu    sync.Mutex
	calls []doneCall
}

func (d *doneLog) PartyDone(_ context.Context, routeID, stepID, partyID string, outcome contracts.Outcome, reason string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, doneCall{routeID, stepID, partyID, outcome, reason})
	return nil
}

func (d *doneLog) all() []doneCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]doneCall(nil), d.calls...)
}

const docKey = "incoming/route-1/rev-1.pdf"

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	ns := natstest.Start(t)
	ns.CreateStreams(t, queue.Streams(queue.Settings{}), contracts.StreamSign, contracts.StreamAudit)
	mp := mailpit.Start(t)
	sender, err := mail.New(mail.Config{SMTPHost: mp.SMTP, From: "Signet <signet@example.com>", TLS: mail.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	gw := smsru.Start(t, "sms-api-id")
	st, err := storage.Open(ctx, "file://"+filepath.Join(t.TempDir(), "artefacts"), storage.Options{PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Put(ctx, docKey, strings.NewReader("%PDF-1.7 test"), -1, "application/pdf", ""); err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	c := &clock{t: time.Now().UTC()}
	r := &rig{ns: ns, mp: mp, gw: gw, keys: contracts.NewJobKeys(pub), clock: c, done: &doneLog{}}
	r.s = &Service{JS: ns.JS, Store: st, Mail: sender, SMS: &sms.SMSRu{APIID: "sms-api-id", URL: gw.URL},
		JobKey: contracts.NewJobSigner(priv, time.Hour), SealCredential: "pkcs11:token=acme;object=seal",
		PublicURL: "https://signet.example.com", Key: bytes.Repeat([]byte{7}, 32), Done: r.done, Now: c.now,
		Audit: audit.NewWriter(ns.JS, priv, audit.Options{})}
	if err := r.s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) invite(t *testing.T, party, email, phone string) *Invitation {
	t.Helper()
	inv, err := r.s.Invite(context.Background(), Invitation{RouteID: "route-1", StepID: "step-2", PartyID: party,
		Name: "Ivan Petrov", Email: email, Phone: phone, DocumentKey: docKey, FileName: "contract.pdf", Language: "en"})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

var (
	linkRE = regexp.MustCompile(`https://signet\.example\.com/x/([0-9a-f]{16}\.[A-Za-z0-9_-]{43})`)
	codeRE = regexp.MustCompile(`\b(\d{6})\b`)
)

// mailed returns the newest message's text for address whose subject is subject.
func (r *rig) mailed(t *testing.T, address, subject string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range r.mp.To(t, address) {
			if m.Subject == subject {
				return m.Text
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no message %q to %s arrived", subject, address)
	return ""
}

func find(t *testing.T, re *regexp.Regexp, text string) string {
	t.Helper()
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("%s not in:\n%s", re, text)
	}
	return m[1]
}

// linkByMail invites address and returns the link's token from the e-mail.
func (r *rig) linkByMail(t *testing.T, party, address string) (*Invitation, string) {
	inv := r.invite(t, party, address, "")
	return inv, find(t, linkRE, r.mailed(t, address, "A document for you to sign"))
}

// codeByMail asks for a code and returns it from the e-mail.
func (r *rig) codeByMail(t *testing.T, token, address string) string {
	t.Helper()
	before := len(r.mp.To(t, address))
	if err := r.s.SendCode(context.Background(), token, Evidence{IP: "203.0.113.7", UserAgent: "TestBrowser/1"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ms := r.mp.To(t, address); len(ms) > before {
			return find(t, codeRE, ms[0].Text)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the code never arrived")
	return ""
}

func pngDataURL(t *testing.T) string {
	img := image.NewNRGBA(image.Rect(0, 0, 60, 20))
	for x := 5; x < 55; x++ {
		img.Set(x, 10, color.NRGBA{0, 0, 128, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
}

// queuedJob reads the one job on SIGN.
func (r *rig) queuedJob(t *testing.T) *contracts.SignJob {
	t.Helper()
	st, err := r.ns.JS.Stream(context.Background(), contracts.StreamSign)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(context.Background(), contracts.SubjectSignBatch)
	if err != nil {
		t.Fatal(err)
	}
	job, err := contracts.DecodeSignJob(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// deliver records the worker's Delivered outcome of a job, as the callback worker does.
func (r *rig) deliver(t *testing.T, jobID string, outcome contracts.Outcome, why string) {
	t.Helper()
	ctx := context.Background()
	kv, err := r.ns.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: contracts.BucketJobs})
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(`{"outcome":"` + string(outcome) + `","error":"` + why + `","delivered":"2026-01-01T00:00:00Z"}`)
	if _, err := kv.Put(ctx, contracts.DeliveredKey(jobID), b); err != nil {
		t.Fatal(err)
	}
}

// story is every audit event of an invitation's job, in order.
func (r *rig) story(t *testing.T, inv *Invitation) []*contracts.AuditEvent {
	t.Helper()
	evs, err := audit.Story(context.Background(), r.ns.JS, contracts.StreamAudit, JobID(inv))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
