package producer

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/producer/requests"
)

// clock is a settable time for the sweeper.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time            { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration)       { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock(t time.Time) *clock          { return &clock{t: t} }
func (f *fixture) robotURL() string        { return f.srv.URL + "/bitrix24/robot" }
func (f *fixture) jobID(tok string) string { return RobotJobID(f.portal.MemberID(), tok) }

// withRequests gives the fixture's intake the requests service as `signet serve` wires it, on the
// fixture's NATS and emulated portal, with the sweeper's clock c.
func (f *fixture) withRequests(t *testing.T, c *clock) *requests.Service {
	t.Helper()
	f.withBitrix(t)
	store, err := requests.OpenStore(context.Background(), f.js, 1)
	if err != nil {
		t.Fatal(err)
	}
	svc := &requests.Service{Store: store, Queue: f.in.RequestQueue(), Grants: f.id, Notifiers: []requests.Notifier{f.in}, Now: c.now}
	f.in.Requests = svc
	return svc
}

func callbacks(t *testing.T, f *fixture) []*contracts.Callback {
	t.Helper()
	s, err := f.js.Stream(context.Background(), contracts.StreamCallback)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(context.Background())
	var out []*contracts.Callback
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			continue
		}
		cb, err := contracts.DecodeCallback(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cb)
	}
	return out
}

// A robot call whose signer needs a code and got none becomes one request to sign, however many
// copies of it arrive at once: one stored request, one notification, nothing queued to sign.
func TestRobotAsksTheSignerOnce(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	svc := f.withRequests(t, newClock(time.Now()))
	f.enrolSigner(t)
	props := f.props("42")
	props[PropReason] = "Approved"
	tok, deliver := f.portal.NewRobotCall("signet_sign_pdf", 1188, props)
	var wg sync.WaitGroup
	for range 3 { // three copies at once: one makes the request, the others wait for it or answer 503
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, err := deliver(context.Background(), f.robotURL()); err != nil || st != http.StatusOK && st != http.StatusServiceUnavailable {
				t.Errorf("a copy: HTTP %d %v", st, err)
			}
		}()
	}
	wg.Wait()
	list, err := svc.List(context.Background(), f.portal.MemberID(), "mary")
	if err != nil || len(list) != 1 || list[0].ID != f.jobID(tok) {
		t.Fatalf("mary's requests: %v %v", list, err)
	}
	r := list[0]
	if r.Job.Credential != cred || r.Job.Document.DiskFileID != 42 || r.Job.Document.Source != contracts.SourceDisk ||
		r.Job.Stamp.Reason != "Approved" || r.Job.Reply.EventToken != tok || r.Job.Signer.Authorization != "" || r.Job.Auth != nil {
		t.Fatalf("request does not carry the call, or carries an authorisation: %+v", r.Job)
	}
	if d := r.Deadline.Sub(r.Created); d != DefaultRequestDeadline {
		t.Fatalf("deadline %s after creation, want the default %s", d, DefaultRequestDeadline)
	}
	var mine int
	for _, n := range f.portal.Notifications() {
		if n.UserID == 7 && n.Tag == "signet-request-"+r.ID {
			mine++
			if !strings.Contains(n.Message, "[URL=") || !strings.Contains(n.Out, InboxPath) {
				t.Errorf("notification without a link to the inbox: %+v", n)
			}
		}
	}
	if mine != 1 {
		t.Fatalf("%d notifications of the request, want 1: %v", mine, f.portal.Notifications())
	}
	if n := streamMsgs(t, f.js, contracts.StreamSign); n != 0 {
		t.Fatalf("SIGN holds %d jobs before the signer signed", n)
	}
	// Sent again later, the call is answered as requested, and nobody is told twice.
	if st, err := deliver(context.Background(), f.robotURL()); err != nil || st != http.StatusOK {
		t.Fatalf("repeat: HTTP %d %v", st, err)
	}
	if len(f.portal.Notifications()) != 1 {
		t.Fatalf("a repeat notified again: %v", f.portal.Notifications())
	}
}

// The mode: the code in the robot still signs inline; mode=code without a code is refused for want
// of it; a signer without OTP signs at once in either mode; a signer not enrolled gets no request.
func TestRobotModes(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	f.withRequests(t, newClock(time.Now()))
	f.addSigner(t, true) // mary without OTP: a company seal
	ask := f.props("42")
	ask[PropMode] = ModeAsk
	tok, st, err := f.portal.RobotCall(context.Background(), f.robotURL(), "signet_sign_pdf", 1, ask)
	if err != nil || st != http.StatusOK {
		t.Fatal(st, err)
	}
	job, err := contracts.DecodeSignJob(lastMsg(t, f.js, contracts.StreamSign, contracts.SubjectSignInteractive))
	if err != nil || job.ID != f.jobID(tok) || job.Signer.Authorization != identity.MethodOTPNotRequired {
		t.Fatalf("a seal must sign at once: %+v %v", job, err)
	}
	if _, err := f.id.SetOTPDisabled(context.Background(), "mary", false); err != nil {
		t.Fatal(err)
	}
	code := f.props("43")
	code[PropMode] = ModeCode
	if _, st, _ := f.portal.RobotCall(context.Background(), f.robotURL(), "signet_sign_pdf", 2, code); st != http.StatusUnprocessableEntity {
		t.Fatalf("mode=code without a code: HTTP %d, want 422", st)
	}
	if _, st, _ := f.portal.RobotCall(context.Background(), f.robotURL(), "signet_sign_pdf", 3, f.props("44")); st != http.StatusUnprocessableEntity {
		t.Fatalf("a request for a signer who never enrolled: HTTP %d, want 422", st)
	}
	bad := f.props("45")
	bad[PropDeadline] = "0"
	if _, st, _ := f.portal.RobotCall(context.Background(), f.robotURL(), "signet_sign_pdf", 4, bad); st != http.StatusUnprocessableEntity {
		t.Fatalf("deadline 0: HTTP %d", st)
	}
}

// Decline, expiry and a wrong code, on real NATS: a decline and an expiry each put one unsigned end
// on CALLBACK (outcome, reason, the event_token), a wrong code queues nothing, and an ended request
// cannot end again.
func TestRequestDeclineExpiryWrongCode(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	c := newClock(time.Now())
	svc := f.withRequests(t, c)
	f.enrolSigner(t)
	ctx := context.Background()
	var toks []string
	for i, h := range []string{"2", "5"} {
		p := f.props(strconv.Itoa(50 + i))
		p[PropDeadline] = h
		tok, st, err := f.portal.RobotCall(ctx, f.robotURL(), "signet_sign_pdf", 10+i, p)
		if err != nil || st != http.StatusOK {
			t.Fatal(st, err)
		}
		toks = append(toks, tok)
	}
	declined, expiring := f.jobID(toks[0]), f.jobID(toks[1])
	if _, err := svc.Sign(ctx, "mary", []string{declined, expiring}, "000000"); !errors.Is(err, identity.ErrOTPInvalid) {
		t.Fatalf("a wrong code: %v", err)
	}
	if err := svc.Decline(ctx, "bob", declined, "not mine"); !errors.Is(err, requests.ErrNotYours) {
		t.Fatalf("another signer declines: %v", err)
	}
	if err := svc.Decline(ctx, "mary", declined, "  the amount is wrong "); err != nil {
		t.Fatal(err)
	}
	c.add(3 * time.Hour) // past the first deadline (already declined), before the second
	if n, err := svc.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before the deadline: %d %v", n, err)
	}
	c.add(3 * time.Hour)
	if n, err := svc.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep after the deadline: %d %v", n, err)
	}
	if n, _ := svc.Sweep(ctx); n != 0 {
		t.Fatal("a request expired twice")
	}
	if n := streamMsgs(t, f.js, contracts.StreamSign); n != 0 {
		t.Fatalf("SIGN holds %d jobs", n)
	}
	cbs := callbacks(t, f)
	if len(cbs) != 2 {
		t.Fatalf("%d callbacks, want 2", len(cbs))
	}
	for _, cb := range cbs {
		switch cb.JobID {
		case declined:
			if cb.Outcome != contracts.OutcomeDeclined || cb.Error != "the amount is wrong" || cb.Reply.EventToken != toks[0] ||
				cb.Failure == nil || cb.Failure.Kind != contracts.FailureDeclined {
				t.Errorf("declined: %+v", cb)
			}
		case expiring:
			// The kind carries the deadline, which the callback worker words in the portal's language.
			if cb.Outcome != contracts.OutcomeExpired || !strings.Contains(cb.Error, "deadline") || cb.Reply.EventToken != toks[1] ||
				cb.Failure == nil || cb.Failure.Kind != contracts.FailureExpired || cb.Failure.Deadline.IsZero() {
				t.Errorf("expired: %+v", cb)
			}
		default:
			t.Errorf("callback of %s", cb.JobID)
		}
	}
	// The signer's "please sign" of the expired request was replaced by its end (same TAG).
	var tagged []string
	for _, n := range f.portal.Notifications() {
		if n.Tag == "signet-request-"+expiring {
			tagged = append(tagged, n.Message)
		}
	}
	if len(tagged) != 1 || !strings.Contains(tagged[0], "expired") {
		t.Errorf("the expired request's notifications: %q, want one saying it expired", tagged)
	}
	if _, err := svc.Sign(ctx, "mary", []string{expiring}, "123456"); !errors.Is(err, requests.ErrNotPending) {
		t.Fatalf("signing an expired request: %v", err)
	}
}

// The document property's forms (issue 19, must 4): a document-generator document is signed from its
// PDF and the job says so; one whose PDF is not made yet is refused; a credential is picked by its
// friendly name, and a name that is none of the signer's is refused with the names there are.
func TestRobotDocumentGeneratorAndCredentialName(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	f.withBitrix(t)
	f.addSigner(t, true)
	ready := f.portal.AddGeneratedDocument(2, 21, "Invoice 21", []byte("%PDF-1.4 generated"), false)
	pending := f.portal.AddGeneratedDocument(2, 22, "Invoice 22", []byte("%PDF-1.4 generated"), true)
	p := f.props(DocumentGeneratorPrefix + strconv.Itoa(ready))
	p[PropCredential] = "demo-signer" // the object of cred
	if _, st, err := f.portal.RobotCall(context.Background(), f.robotURL(), "signet_sign_pdf", 21, p); err != nil || st != http.StatusOK {
		t.Fatal(st, err)
	}
	job, err := contracts.DecodeSignJob(lastMsg(t, f.js, contracts.StreamSign, contracts.SubjectSignInteractive))
	if err != nil {
		t.Fatal(err)
	}
	if job.Document.Source != contracts.SourceDocumentGenerator || job.Document.FileName != "Invoice 21.pdf" ||
		!strings.HasPrefix(job.Document.URL, f.portal.BaseURL()) || job.Credential != cred {
		t.Fatalf("job: %+v credential %s", job.Document, job.Credential)
	}
	for name, props := range map[string]map[string]any{
		"pending PDF":  f.props(DocumentGeneratorPrefix + strconv.Itoa(pending)),
		"unknown name": func() map[string]any { p := f.props("42"); p[PropCredential] = "ceo-2026"; return p }(),
		"bad docgen":   f.props(DocumentGeneratorPrefix + "x"),
	} {
		tok, st, err := f.portal.RobotCall(context.Background(), f.robotURL(), "signet_sign_pdf", 23, props)
		if err != nil || st != http.StatusUnprocessableEntity {
			t.Fatalf("%s: HTTP %d %v", name, st, err)
		}
		for _, cb := range callbacks(t, f) {
			if cb.JobID == f.jobID(tok) && name == "unknown name" && !strings.Contains(cb.Error, "demo-signer") {
				t.Errorf("%s: %q does not name the signer's certificates", name, cb.Error)
			}
		}
	}
}

// One code makes one grant for one certificate: a selection of requests with two certificates is
// refused before the code is spent, and a request that was signed leaves the inbox.
func TestSignOneCertificatePerSelection(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	svc := f.withRequests(t, newClock(time.Now()))
	_, code := f.enrolSigner(t)
	const other = "pkcs11:token=signet-demo;object=other-signer"
	ctx := context.Background()
	if _, err := f.id.MapCredential(ctx, "mary", other, false); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, c := range []string{cred, other, cred} {
		p := f.props(strconv.Itoa(60 + i))
		p[PropCredential] = c
		tok, st, err := f.portal.RobotCall(ctx, f.robotURL(), "signet_sign_pdf", 20+i, p)
		if err != nil || st != http.StatusOK {
			t.Fatal(st, err)
		}
		ids = append(ids, f.jobID(tok))
	}
	if _, err := svc.Sign(ctx, "mary", ids, code()); !errors.Is(err, requests.ErrMixed) {
		t.Fatalf("two certificates in one selection: %v", err)
	}
	res, err := svc.Sign(ctx, "mary", []string{ids[0], ids[2]}, code())
	if err != nil || len(res) != 2 || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("one certificate: %v %+v", err, res)
	}
	if n := streamMsgs(t, f.js, contracts.StreamSign); n != 2 {
		t.Fatalf("SIGN holds %d jobs, want 2", n)
	}
	job, err := contracts.DecodeSignJob(lastMsg(t, f.js, contracts.StreamSign, contracts.SubjectSignInteractive))
	if err != nil || job.Signer.Authorization != identity.MethodGrant || job.Signer.GrantID == "" {
		t.Fatalf("a request's job is authorised by the grant: %+v %v", job.Signer, err)
	}
	left, err := svc.List(ctx, f.portal.MemberID(), "mary")
	if err != nil || len(left) != 1 || left[0].ID != ids[1] {
		t.Fatalf("inbox after signing: %v %v", left, err)
	}
}

// A file field works in the robot of any CRM item: the document type names its entityTypeId.
func TestEntityTypeID(t *testing.T) {
	for typ, want := range map[string]int{"DEAL": 2, "LEAD": 1, "CONTACT": 3, "COMPANY": 4, "QUOTE": 7, "SMART_INVOICE": 31,
		"DYNAMIC_183": 183, "DYNAMIC_x": 0, "DYNAMIC_0": 0, "iblock": 0, "": 0} {
		if got := EntityTypeID(typ); got != want {
			t.Errorf("%q: %d, want %d", typ, got, want)
		}
	}
}

// A code given in the robot is used whatever the mode: a robot placed before the mode existed gets
// the default (ask) from Bitrix24, and its process collects the code.
func TestRobotCodeWinsOverAsk(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	svc := f.withRequests(t, newClock(time.Now()))
	_, code := f.enrolSigner(t)
	p := f.otpProps(code())
	p[PropMode] = ModeAsk
	tok, st, err := f.portal.RobotCall(context.Background(), f.robotURL(), "signet_sign_pdf", 30, p)
	if err != nil || st != http.StatusOK {
		t.Fatal(st, err)
	}
	job, err := contracts.DecodeSignJob(lastMsg(t, f.js, contracts.StreamSign, contracts.SubjectSignInteractive))
	if err != nil || job.ID != f.jobID(tok) || job.Signer.Authorization != identity.MethodOTP {
		t.Fatalf("the code in the robot must sign inline: %+v %v", job, err)
	}
	if list, _ := svc.List(context.Background(), f.portal.MemberID(), "mary"); len(list) != 0 {
		t.Fatalf("a request was made although the code was given: %v", list)
	}
}

// A decline racing the sweeper (and a second sweeper in another intake) ends the request once: one
// compare-and-set wins, one end reaches CALLBACK.
func TestRequestEndsOnceUnderRace(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	c := newClock(time.Now())
	svc := f.withRequests(t, c)
	other := &requests.Service{Store: svc.Store, Queue: f.in.RequestQueue(), Grants: f.id, Now: c.now}
	f.enrolSigner(t)
	ctx := context.Background()
	var ids []string
	for i := range 5 {
		p := f.props(strconv.Itoa(70 + i))
		p[PropDeadline] = "1"
		tok, st, err := f.portal.RobotCall(ctx, f.robotURL(), "signet_sign_pdf", 40+i, p)
		if err != nil || st != http.StatusOK {
			t.Fatal(st, err)
		}
		ids = append(ids, f.jobID(tok))
	}
	c.add(2 * time.Hour)
	var wg sync.WaitGroup
	declined := make([]error, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() { defer wg.Done(); declined[i] = svc.Decline(ctx, "mary", id, "no") }()
	}
	for _, s := range []*requests.Service{svc, other} {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = s.Sweep(ctx) }()
	}
	wg.Wait()
	ends := map[string]int{}
	for _, cb := range callbacks(t, f) {
		ends[cb.JobID]++
	}
	for i, id := range ids {
		r, _, err := svc.Store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want := requests.Expired
		if declined[i] == nil {
			want = requests.Declined
		} else if !errors.Is(declined[i], requests.ErrNotPending) {
			t.Fatalf("decline %d: %v", i, declined[i])
		}
		if r.State != want || !r.Sent || ends[id] != 1 {
			t.Errorf("request %d: state %s (want %s), sent %v, %d ends on CALLBACK", i, r.State, want, r.Sent, ends[id])
		}
	}
}
