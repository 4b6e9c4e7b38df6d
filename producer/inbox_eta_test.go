package producer

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/producer/requests"
)

// A request the signer signed waits at a smartcard behind a night batch. Its status (the inbox
// page's poll) estimates its completion from the token's record in the jobs bucket, as the workers
// write it: the signatures under way and the people's jobs waiting are ahead of it, the batch's 500
// are not (a person's job takes the next slot, worker/tokens.go), at the token's measured rate; in the
// reader's language with its plural forms, at the time in the signer's zone. As the record changes,
// the estimate moves; before any worker measured the token the status says there is no estimate.
func TestInboxStatusEstimatesFromTheTokenRecord(t *testing.T) {
	ctx := context.Background()
	ns := natstest.Start(t)
	store, err := requests.OpenStore(ctx, ns.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := ns.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: contracts.BucketJobs})
	if err != nil {
		t.Fatal(err)
	}
	c := newClock(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	in := &Intake{JS: ns.JS, FormKey: []byte("0123456789abcdef0123456789abcdef"), Now: c.now,
		Requests: &requests.Service{Store: store, Now: c.now}}
	mux := http.NewServeMux()
	in.inboxRoutes(mux)
	id := "r0123456789abcdef0123456789abcdef"
	q := &requests.Request{ID: id, State: requests.Queued, Created: c.now().Add(-time.Hour), Since: c.now(), Deadline: c.now().Add(24 * time.Hour),
		Job: contracts.SignJob{ID: id, Kind: contracts.KindRobot, Credential: "pkcs11:token=card;object=mary-2026", TimeZone: "Europe/Moscow",
			Portal: contracts.Portal{MemberID: "m1"}, Signer: contracts.Signer{Login: "mary"}}}
	if err := store.Create(ctx, q); err != nil {
		t.Fatal(err)
	}
	record := func(interactive int) {
		b, _ := json.Marshal(contracts.TokenRate{Token: "card", Worker: "w1/10", Rate: 0.1, Updated: c.now(),
			Signing: 1, WaitingInteractive: interactive, WaitingBatch: 500})
		if _, err := jobs.Put(ctx, contracts.TokenRateKey("card", "w1/10"), b); err != nil {
			t.Fatal(err)
		}
	}
	status := func(lang string) inboxStatus {
		t.Helper()
		tok := in.inboxToken(inboxSession{MemberID: "m1", UserID: 7, Login: "mary", Lang: lang, Expires: c.now().Add(time.Hour).Unix()})
		req := httptest.NewRequest(http.MethodGet, InboxPath+"/status/"+id, nil)
		req.Header.Set(InboxTokenHeader, tok)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		var st inboxStatus
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &st) != nil {
			t.Fatalf("status: HTTP %d %s", rec.Code, rec.Body)
		}
		return st
	}

	if st := status("en"); st.State != "queued" || st.ETA != "No estimate yet: the speed of the signing token has not been measured." || !st.Expected.IsZero() {
		t.Errorf("no token record: %+v", st)
	}
	for _, step := range []struct {
		interactive int // people's jobs waiting at the token
		lang, eta   string
		after       time.Duration
	}{
		// (1 under way + 29 waiting + itself) / 0.1 per second = 310 s
		{29, "en", "Done in about 5 minutes, by 3 Dec 2026 12:05 UTC+3.", 310 * time.Second},
		{29, "ru", "Будет готово примерно через 5 минут, к 03.12.2026 12:05 (UTC+03:00).", 310 * time.Second},
		{9, "ru", "Будет готово примерно через 2 минуты, к 03.12.2026 12:01 (UTC+03:00).", 110 * time.Second},
		{4, "ru", "Будет готово примерно через 1 минуту, к 03.12.2026 12:01 (UTC+03:00).", 60 * time.Second},
		{4, "en", "Done in about 1 minute, by 3 Dec 2026 12:01 UTC+3.", 60 * time.Second},
		{0, "en", "Done in less than a minute, by 3 Dec 2026 12:00 UTC+3.", 20 * time.Second},
	} {
		record(step.interactive)
		st := status(step.lang)
		if st.State != "queued" || st.ETA != step.eta || !st.Expected.Equal(c.now().Add(step.after)) {
			t.Errorf("%d people's jobs ahead (%s): %q expected %s, want %q at +%s", step.interactive, step.lang, st.ETA, st.Expected, step.eta, step.after)
		}
		if !strings.HasSuffix(st.Message, " "+st.ETA) {
			t.Errorf("the page's message %q does not end with the estimate", st.Message)
		}
	}

	// A worker killed an hour ago left its record: it is not a measurement any more.
	c.add(time.Hour)
	if st := status("en"); !st.Expected.IsZero() {
		t.Errorf("a stale record still estimates: %+v", st)
	}
}

// The inbox lists, beside the pending requests, the signer's requests signed within the hour on this
// portal (queued, or held while being queued), oldest first; not another signer's, another portal's,
// a pending one or one signed long ago.
func TestInboxListsRequestsInProgress(t *testing.T) {
	ctx := context.Background()
	ns := natstest.Start(t)
	store, err := requests.OpenStore(ctx, ns.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := newClock(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	svc := &requests.Service{Store: store, Now: c.now}
	add := func(n int, state requests.State, login, member string, since time.Duration) string {
		id := "r" + strings.Repeat("0", 31) + string(rune('a'+n))
		q := &requests.Request{ID: id, State: state, Since: c.now().Add(-since), Created: c.now().Add(-2 * time.Hour),
			Job: contracts.SignJob{ID: id, Portal: contracts.Portal{MemberID: member}, Signer: contracts.Signer{Login: login}}}
		if err := store.Create(ctx, q); err != nil {
			t.Fatal(err)
		}
		return id
	}
	later := add(0, requests.Queued, "mary", "m1", 5*time.Minute)
	earlier := add(1, requests.Signing, "Mary", "m1", 10*time.Minute)
	add(2, requests.Queued, "john", "m1", time.Minute)
	add(3, requests.Queued, "mary", "m2", time.Minute)
	add(4, requests.Pending, "mary", "m1", time.Minute)
	add(5, requests.Queued, "mary", "m1", 2*time.Hour)
	add(6, requests.Declined, "mary", "m1", time.Minute)
	got, err := svc.InProgress(ctx, "m1", "mary", inboxShowsQueued)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, q := range got {
		ids = append(ids, q.ID)
	}
	if strings.Join(ids, " ") != earlier+" "+later {
		t.Errorf("in progress: %v, want %s then %s", ids, earlier, later)
	}
}
