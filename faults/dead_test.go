package faults

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
)

var listLine = regexp.MustCompile(`^(\d+)  (\S+)  (\S+)  (\S+)  (.+)$`)

type listed struct {
	seq                   uint64
	time, subject, job, r string
}

func dlqList(t *testing.T, p *pipeline) []listed {
	t.Helper()
	out, errOut, err := run(t, "dlq", "list", "--nats-url", p.nats.URL())
	if err != nil {
		t.Fatalf("signet dlq list: %v\n%s", err, errOut)
	}
	var ls []listed
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		m := listLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("signet dlq list: line %q is not `seq  time  subject  job  reason`", line)
		}
		seq, _ := strconv.ParseUint(m[1], 10, 64)
		if _, err := time.Parse(time.RFC3339, m[2]); err != nil {
			t.Errorf("signet dlq list: time %q is not RFC 3339", m[2])
		}
		ls = append(ls, listed{seq, m[2], m[3], m[4], m[5]})
	}
	return ls
}

// TestDeadLetters sends good documents, corrupt ones, ones for a credential with no key on the token,
// and one job whose every delivery is taken by a "worker" that dies (MaxDeliver 3): the bad ones end
// in DEAD with their reason and their workflows get signed=N with that reason; then `signet dlq`
// lists, shows, retries (one, then all) and purges them. It also checks the idempotency rules: a
// duplicate publish is dropped by Nats-Msg-Id, and a job published again after it was signed goes
// straight to its (already delivered) callback without a second signature.
func TestDeadLetters(t *testing.T) {
	p := newPipeline(t, options{Workers: 1, MaxDeliver: 3, AckWait: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	good := p.send(ctx, 20)
	corrupt := p.sendWith(ctx, 3, []byte("%PDF-1.7\nnot really a PDF\n%%EOF\n"), p.cred)
	unauth := p.sendWith(ctx, 2, p.pdf, missingCred)
	p.waitProgress(1, 2*time.Minute)

	// A job whose deliveries all time out: the worker is away, and something takes the job three
	// times without ever answering, as three workers that died would.
	p.workers[0].term(30 * time.Second)
	exhausted := p.send(ctx, 1)[0]
	cons, err := p.js.Consumer(ctx, contracts.StreamSign, contracts.ConsumerSignInteractive)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		b, err := cons.Fetch(1, jetstream.FetchMaxWait(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range b.Messages() {
			got++
			md, _ := m.Metadata()
			if md.NumDelivered != uint64(i) {
				t.Fatalf("delivery %d of the job came as delivery %d", i, md.NumDelivered)
			}
		}
		if got != 1 {
			t.Fatalf("delivery %d of the job did not come (%v)", i, b.Error())
		}
	}
	p.workers[0].start(t) // listens to MAX_DELIVERIES before the next (never sent) redelivery is due

	failed := map[string]bool{exhausted.token: true}
	for _, c := range append(append([]robotCall{}, corrupt...), unauth...) {
		failed[c.token] = true
	}
	p.verifyOutcome(2*time.Minute, failed)

	// signet dlq list: one line per dead message with its job id and reason.
	ls := dlqList(t, p)
	if len(ls) != len(failed) {
		t.Fatalf("signet dlq list: %d lines, want %d: %+v", len(ls), len(failed), ls)
	}
	byJob := map[string]listed{}
	for _, l := range ls {
		byJob[l.job] = l
		if l.subject != contracts.SubjectSignInteractive {
			t.Errorf("dead job %s: subject %q, want the original %s", l.job, l.subject, contracts.SubjectSignInteractive)
		}
	}
	for _, c := range corrupt {
		if l, ok := byJob[c.jobID]; !ok || !strings.Contains(l.r, "invoice-") {
			t.Errorf("corrupt document job %s: dead letter %+v should name the document", c.jobID, l)
		}
	}
	for _, c := range unauth {
		if l, ok := byJob[c.jobID]; !ok || !strings.Contains(l.r, "nobody") {
			t.Errorf("missing-key job %s: dead letter %+v should name the credential", c.jobID, l)
		}
	}
	ex, ok := byJob[exhausted.jobID]
	if !ok || !strings.Contains(ex.r, "gave up after 3 deliveries") {
		t.Fatalf("exhausted job %s: dead letter %+v, want the reason `gave up after 3 deliveries`", exhausted.jobID, ex)
	}
	if rv := p.portal.EventsSent()[exhausted.token]; len(rv) == 0 || !strings.Contains(fmt.Sprint(rv[0]["errorText"]), "gave up after 3 deliveries") {
		t.Errorf("the workflow of the exhausted job was told %v, want the reason", rv)
	}

	// signet dlq show SEQ
	out, errOut, err := run(t, "dlq", "show", strconv.FormatUint(ex.seq, 10), "--nats-url", p.nats.URL())
	if err != nil || !strings.Contains(out, exhausted.jobID) || !strings.Contains(out, "gave up after 3 deliveries") || !strings.Contains(out, `"credential"`) {
		t.Fatalf("signet dlq show %d: %v\n%s%s", ex.seq, err, out, errOut)
	}
	dead, err := p.js.Stream(ctx, contracts.StreamDead)
	if err != nil {
		t.Fatal(err)
	}
	exMsg, err := dead.GetMsg(ctx, ex.seq)
	if err != nil {
		t.Fatal(err)
	}

	// A duplicate publish (same Nats-Msg-Id as the original robot call) is dropped by JetStream.
	ack, err := p.js.PublishMsg(ctx, &nats.Msg{Subject: contracts.SubjectSignInteractive, Data: exMsg.Data,
		Header: nats.Header{contracts.HeaderMsgID: []string{exhausted.jobID}}})
	if err != nil || !ack.Duplicate {
		t.Fatalf("re-publishing job %s under its own Nats-Msg-Id: ack %+v, %v; want a duplicate", exhausted.jobID, ack, err)
	}

	// signet dlq retry SEQ: the exhausted job is signed now (its workflow already heard of the
	// failure, so the portal treats the second send as a duplicate; the file gets its signed version).
	if out, errOut, err := run(t, "dlq", "retry", strconv.FormatUint(ex.seq, 10), "--nats-url", p.nats.URL()); err != nil || !strings.Contains(out, "republished") {
		t.Fatalf("signet dlq retry %d: %v\n%s%s", ex.seq, err, out, errOut)
	}
	kv, err := p.js.KeyValue(ctx, contracts.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	if err := eventually(time.Minute, func() bool {
		_, err := kv.Get(ctx, "res."+exhausted.jobID)
		return err == nil && len(p.portal.FileVersions(exhausted.disk)) == 2
	}); err != nil {
		t.Fatalf("the retried job %s was not signed and delivered within a minute%s", exhausted.jobID, p.logs())
	}
	res1, _ := kv.Get(ctx, "res."+exhausted.jobID)

	// The same job once more under yet another id: the stored result is found, nothing is signed
	// again, and the callback has nothing left to do.
	if _, err := p.js.PublishMsg(ctx, &nats.Msg{Subject: contracts.SubjectSignInteractive, Data: exMsg.Data,
		Header: nats.Header{contracts.HeaderMsgID: []string{exhausted.jobID + "-again"}}}); err != nil {
		t.Fatal(err)
	}

	// signet dlq retry --all: the corrupt and key-less jobs fail again, and are dead again.
	if out, errOut, err := run(t, "dlq", "retry", "--all", "--nats-url", p.nats.URL()); err != nil || strings.Count(out, "republished") != 5 {
		t.Fatalf("signet dlq retry --all: %v\n%s%s", err, out, errOut)
	}
	if err := eventually(time.Minute, func() bool {
		info, err := dead.Info(ctx)
		return err == nil && info.State.Msgs == 5
	}); err != nil {
		t.Fatalf("the retried bad jobs did not come back to DEAD%s", p.logs())
	}
	again := dlqList(t, p)
	for _, l := range again {
		if old, ok := byJob[l.job]; !ok || l.seq <= old.seq {
			t.Errorf("after retry --all: %+v is not a new letter of a retried job", l)
		}
	}
	if err := eventually(30*time.Second, func() bool {
		for _, s := range []string{contracts.StreamSign, contracts.StreamCallback} {
			st, err := p.js.Stream(ctx, s)
			if err != nil {
				return false
			}
			info, err := st.Info(ctx)
			if err != nil || info.State.Msgs != 0 {
				return false
			}
		}
		return true
	}); err != nil {
		t.Errorf("SIGN and CALLBACK did not drain after the retries")
	}
	res2, _ := kv.Get(ctx, "res."+exhausted.jobID)
	if res2.Revision() != res1.Revision() || string(res2.Value()) != string(res1.Value()) {
		t.Errorf("job %s: its stored result changed when it was published again", exhausted.jobID)
	}
	if n := len(p.portal.FileVersions(exhausted.disk)); n != 2 {
		t.Errorf("job %s: Disk file has %d versions after a re-publish, want 2 (original + one signature)", exhausted.jobID, n)
	}
	// Every workflow completed exactly once, whatever was retried.
	accepted := map[string]int{}
	for _, c := range p.portal.Calls() {
		if c.Method == "bizproc.event.send" && c.ErrorCode == "" && !c.Duplicate {
			tok, _ := c.Params["EVENT_TOKEN"].(string)
			accepted[tok]++
		}
	}
	for _, c := range p.calls {
		if accepted[c.token] != 1 {
			t.Errorf("job %s: %d accepted bizproc.event.send after the retries, want 1", c.jobID, accepted[c.token])
		}
	}
	_ = good

	// signet dlq purge
	if out, errOut, err := run(t, "dlq", "purge", "--nats-url", p.nats.URL()); err != nil || !strings.Contains(out, "purged 5") {
		t.Fatalf("signet dlq purge: %v\n%s%s", err, out, errOut)
	}
	if ls := dlqList(t, p); len(ls) != 0 {
		t.Fatalf("after purge, signet dlq list shows %v", ls)
	}

	// A job that exhausts its deliveries while no worker runs: JetStream notices on the next pull and
	// sends its one MAX_DELIVERIES advisory to nobody. The sweep of the next worker to start finds it
	// (delivered, neither acked nor pending, still in SIGN) and gives it the same end: DEAD, signed=N.
	p.workers[0].term(30 * time.Second)
	unheard := p.send(ctx, 1)[0]
	for i := 1; i <= 3; i++ {
		b, err := cons.Fetch(1, jetstream.FetchMaxWait(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for range b.Messages() {
			got++
		}
		if got != 1 {
			t.Fatalf("delivery %d of the unheard job did not come (%v)", i, b.Error())
		}
	}
	// The pull that exhausts it: open past the last back-off step (4 s after the third delivery).
	if b, err := cons.Fetch(1, jetstream.FetchMaxWait(6*time.Second)); err == nil {
		for m := range b.Messages() {
			t.Fatalf("delivered a fourth time with MaxDeliver 3: %s", m.Data())
		}
	}
	p.workers[0].start(t)
	if err := eventually(time.Minute, func() bool {
		rv := p.portal.EventsSent()[unheard.token]
		return len(rv) > 0 && strings.Contains(fmt.Sprint(rv[0]["errorText"]), "gave up after 3 deliveries")
	}); err != nil {
		t.Fatalf("the sweep did not fail the unheard job %s: its workflow heard %v%s", unheard.jobID, p.portal.EventsSent()[unheard.token], p.logs())
	}
	if ls := dlqList(t, p); len(ls) != 1 || ls[0].job != unheard.jobID {
		t.Fatalf("after the sweep, signet dlq list shows %+v, want only job %s", ls, unheard.jobID)
	}
}

// TestWorkerDrainsOnSIGTERM stops a worker with SIGTERM in the middle of a batch: it exits within its
// drain timeout, the jobs it held are finished or handed back, and the batch completes with nothing
// lost and nothing signed twice.
func TestWorkerDrainsOnSIGTERM(t *testing.T) {
	p := newPipeline(t, options{Workers: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p.send(ctx, docs)
	p.waitProgress(0.3, 2*time.Minute)
	start := time.Now()
	if !p.workers[0].term(45 * time.Second) {
		t.Fatalf("worker did not exit within 45 s of SIGTERM%s", p.logs())
	}
	t.Logf("worker drained and exited %s after SIGTERM at %d/%d completed", time.Since(start).Round(time.Millisecond), p.completed(), docs)
	p.verify(3 * time.Minute)
}
