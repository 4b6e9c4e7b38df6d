package batch

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

// The batch status finds the token of the batch's credential among the workers' measurements in the
// jobs bucket (by configured name or by label), sums the fresh ones (two workers on one network HSM
// sign side by side) and ignores a stopped worker's and other tokens'; a URI without token= counts
// only when one token was measured.
func TestTokenRateOfTheBatchCredential(t *testing.T) {
	ctx := context.Background()
	jobs, put := tokenRecordsBucket(t)
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	put(contracts.TokenRate{Token: "usb", Label: "ACME eToken", Worker: "w1/10", Rate: 8, Updated: now.Add(-5 * time.Second)})
	put(contracts.TokenRate{Token: "usb", Label: "ACME eToken", Worker: "w2/11", Rate: 4, Updated: now.Add(-20 * time.Second)})
	put(contracts.TokenRate{Token: "usb", Label: "ACME eToken", Worker: "gone/12", Rate: 100, Updated: now.Add(-time.Hour)})

	for uri, want := range map[string]float64{
		"pkcs11:token=usb;object=mary":           12,
		"pkcs11:token=ACME%20eToken;object=mary": 12,
		"pkcs11:object=mary":                     12,
		"pkcs11:token=elsewhere;object=mary":     0,
		"pkcs11:serial=0011;object=mary;id=%01":  12, // no token=: the one token measured
		"not a uri":                              0,
	} {
		l, err := ReadTokenLoad(ctx, jobs, uri, now)
		if err != nil {
			t.Fatal(err)
		}
		if l.Rate != want || (want > 0 && l.Token != "usb") {
			t.Errorf("%s: token %q at %.1f/s, want usb at %.1f/s", uri, l.Token, l.Rate, want)
		}
	}
	put(contracts.TokenRate{Token: "card", Worker: "w1/10", Rate: 2, Updated: now})
	if l, _ := ReadTokenLoad(ctx, jobs, "pkcs11:object=mary", now); l.Rate != 0 {
		t.Errorf("a URI without token= with two tokens measured: %.1f/s, want no guess", l.Rate)
	}
	if l, _ := ReadTokenLoad(ctx, jobs, "pkcs11:token=card;object=k", now); l.Rate != 2 {
		t.Errorf("card: %.1f/s, want 2", l.Rate)
	}

	st := &Status{Pending: 60, TokenRate: 1.5}
	if r := st.Expected(2); r != 1.5 {
		t.Errorf("expected rate %.1f, want the slower token's 1.5", r)
	}
	if r := st.Expected(0); r != 1.5 {
		t.Errorf("before the first result: %.1f, want the token's 1.5", r)
	}
	st.TokenRate = 0
	if r := st.Expected(2); r != 2 {
		t.Errorf("no token measured: %.1f, want the batch's own 2", r)
	}
}

// The work at a token's gates is summed over the workers, and what is ahead of a new job depends on
// its kind: a person's job waits for the signatures under way and the people's jobs before it, never
// for a batch's; a batch job waits for all of them. Signatures become time at the token's rate, and
// an unknown rate gives no time at all.
func TestWorkAheadAtTheToken(t *testing.T) {
	ctx := context.Background()
	jobs, put := tokenRecordsBucket(t)
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	put(contracts.TokenRate{Token: "card", Worker: "w1/10", Rate: 0.25, Updated: now, Signing: 1, WaitingInteractive: 2, WaitingBatch: 300})
	put(contracts.TokenRate{Token: "card", Worker: "w2/11", Rate: 0.25, Updated: now, Signing: 1, WaitingInteractive: 1, WaitingBatch: 200})
	put(contracts.TokenRate{Token: "card", Worker: "gone/12", Rate: 0.25, Updated: now.Add(-time.Hour), Signing: 1, WaitingInteractive: 50})
	l, err := ReadTokenLoad(ctx, jobs, "pkcs11:token=card;object=mary", now)
	if err != nil {
		t.Fatal(err)
	}
	want := TokenLoad{Token: "card", Rate: 0.5, Signing: 2, WaitingInteractive: 3, WaitingBatch: 500}
	if l != want {
		t.Fatalf("load %+v, want %+v", l, want)
	}
	if n := l.Ahead(contracts.KindRobot); n != 5 {
		t.Errorf("ahead of a robot job: %d, want the 2 signatures under way and 3 people's jobs", n)
	}
	if n := l.Ahead(contracts.KindBatch); n != 505 {
		t.Errorf("ahead of a batch job: %d, want 505", n)
	}
	if d := TimeFor(l.Ahead(contracts.KindRobot)+1, l.Rate); d != 12*time.Second {
		t.Errorf("a robot job: %s, want 6 signatures at 0.5/s = 12s", d)
	}
	if d := TimeFor(6, 0); d != 0 {
		t.Errorf("no rate: %s, want none", d)
	}
}

// tokenRecordsBucket is a jobs bucket on a real JetStream, and a writer of workers' token records
// into it as worker/token_rates.go writes them.
func tokenRecordsBucket(t *testing.T) (jetstream.KeyValue, func(contracts.TokenRate)) {
	t.Helper()
	ctx := context.Background()
	ns := natstest.Start(t)
	jobs, err := ns.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: contracts.BucketJobs})
	if err != nil {
		t.Fatal(err)
	}
	return jobs, func(tr contracts.TokenRate) {
		b, _ := json.Marshal(tr)
		if _, err := jobs.Put(ctx, contracts.TokenRateKey(tr.Token, tr.Worker), b); err != nil {
			t.Fatal(err)
		}
	}
}
