package batch

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/keyring"
)

// The estimates people are shown (issue 21, must 5) come from one source: the records the workers
// keep of each token in the jobs bucket (contracts.TokenRate, written by worker/token_rates.go every
// 10 s), never from a guess. The batch status (`signet batch status`) divides a batch's pending
// documents by the token's rate; the signer's inbox (producer/inbox.go) divides the work ahead of a
// request at the token, plus the request itself. Both read the records with ReadTokenLoad and turn
// signatures into time with TimeFor.

// TokenLoad is what the workers last said of one token, summed over the fresh records (each worker
// signs on the token at its own rate, and has its own gate with its own queues).
type TokenLoad struct {
	// Token is the configured name of the token; "" when none was found.
	Token string
	// Rate is the signatures a second the token sustains; 0 when no worker measured it.
	Rate float64
	// Signing, WaitingInteractive and WaitingBatch are the work at the token's gates: signatures
	// under way and jobs waiting for a slot, people's and batches'.
	Signing, WaitingInteractive, WaitingBatch int
}

// ReadTokenLoad finds the workers' records of the token that the credential URI names, by configured
// name or label; with no token= in the URI, the one token measured. Records older than
// contracts.TokenRateFresh (a worker killed, or cut from NATS) and those without a measured rate do
// not count. A URI that names no token measured gives a zero TokenLoad: no estimate.
func ReadTokenLoad(ctx context.Context, jobs jetstream.KeyValue, credential string, now time.Time) (TokenLoad, error) {
	u, err := keyring.ParseURI(credential)
	if err != nil {
		return TokenLoad{}, nil // a stored job always names a valid URI; none: no estimate
	}
	w, err := jobs.WatchFiltered(ctx, []string{contracts.TokenRatePrefix + ">"}, jetstream.IgnoreDeletes())
	if err != nil {
		return TokenLoad{}, err
	}
	defer func() { _ = w.Stop() }()
	byToken := map[string]*TokenLoad{}
	for e := range w.Updates() {
		if e == nil {
			break
		}
		var tr contracts.TokenRate
		if json.Unmarshal(e.Value(), &tr) != nil || now.Sub(tr.Updated) > contracts.TokenRateFresh || tr.Rate <= 0 {
			continue
		}
		if u.Token != "" && u.Token != tr.Token && u.Token != tr.Label {
			continue
		}
		l := byToken[tr.Token]
		if l == nil {
			l = &TokenLoad{Token: tr.Token}
			byToken[tr.Token] = l
		}
		l.Rate += tr.Rate
		l.Signing += tr.Signing
		l.WaitingInteractive += tr.WaitingInteractive
		l.WaitingBatch += tr.WaitingBatch
	}
	if len(byToken) != 1 {
		return TokenLoad{}, nil // none measured, or a URI without token= and several tokens: no guess
	}
	for _, l := range byToken {
		return *l, nil
	}
	return TokenLoad{}, nil
}

// Ahead is how many signatures go before a new job of kind at the token: those under way, and the
// waiting jobs that the gate serves first (worker/tokens.go: a person's job, robot or Sign button or
// inbox, takes the next slot before any batch's; within a kind, first come first served). A job
// already waiting there counts itself among them, so its estimate errs on the late side.
func (l TokenLoad) Ahead(kind contracts.JobKind) int {
	n := l.Signing + l.WaitingInteractive
	if kind == contracts.KindBatch {
		n += l.WaitingBatch
	}
	return n
}

// TimeFor is the time n signatures take at rate signatures a second; 0 when the rate is unknown,
// so that a caller says so instead of guessing.
func TimeFor(n int, rate float64) time.Duration {
	if rate <= 0 || n <= 0 {
		return 0
	}
	return time.Duration(float64(n) / rate * float64(time.Second))
}
