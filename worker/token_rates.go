package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/keyring"
)

// tokenRatesEvery is how often a worker writes its tokens' measured rates to the jobs bucket;
// contracts.TokenRateFresh is six of these. A variable so that tests can shorten it.
var tokenRatesEvery = 10 * time.Second

// publishTokenRates keeps a record of every token this worker has (contracts.TokenRate: its state,
// sessions and measured rate) in the jobs bucket, where the batch status and `signet status` find it,
// until ctx ends; then it deletes them, so that a record left behind is a worker that did not stop
// cleanly (issue 21, must 3).
func (p *Pool) publishTokenRates(ctx context.Context) {
	if p.Signer == nil || p.Signer.Results == nil {
		return
	}
	host, _ := os.Hostname()
	worker := fmt.Sprintf("%s/%d", host, os.Getpid())
	written := map[string]bool{}
	defer func() {
		// ctx is over: a short one of its own, so that a drain does not wait on a lost NATS.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		for token := range written {
			_ = p.Signer.Results.kv.Delete(dctx, contracts.TokenRateKey(token, worker))
		}
	}()
	t := time.NewTicker(tokenRatesEvery)
	defer t.Stop()
	for {
		for _, tr := range p.tokenRecords(worker) {
			if err := p.Signer.Results.putTokenRate(ctx, tr); err != nil {
				p.Log.Debug("token record not written; the batch status estimates from the batch's own rate meanwhile", zap.String("token", tr.Token), zap.Error(err))
				continue
			}
			written[tr.Token] = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tokenRecords joins the keyring's view of each token (online, sessions) with the scheduler's
// (measured rate, limits, the work at its gate), by configured name.
func (p *Pool) tokenRecords(worker string) []contracts.TokenRate {
	now := p.now().UTC()
	byName := map[string]*contracts.TokenRate{}
	var order []string
	// The keyring says whether each token is online (keyring.Keyring.Status); a test's stand-in for
	// it has no tokens to report.
	if ks, ok := p.Signer.Keys.(*keyring.Keyring); ok && ks != nil {
		for _, s := range ks.Status() {
			state := contracts.TokenOnline
			if !s.Online {
				state = contracts.TokenOffline
			}
			byName[s.Name] = &contracts.TokenRate{Token: s.Name, Worker: worker, Updated: now, State: state, Err: s.Err,
				SessionsInUse: s.SessionsInUse, MaxSessions: s.MaxSessions}
			order = append(order, s.Name)
		}
	}
	for _, r := range p.Signer.Tokens.Rates() {
		tr := byName[r.Token]
		if tr == nil {
			if r.Rate <= 0 {
				continue
			}
			tr = &contracts.TokenRate{Token: r.Token, Worker: worker, Updated: now}
			byName[r.Token] = tr
			order = append(order, r.Token)
		}
		tr.Label, tr.Rate, tr.Concurrency, tr.RatePerSec = r.Label, r.Rate, r.Limits.Concurrency, r.Limits.RatePerSec
		// The work ahead at the gate: only the gate knows that a person's job takes the next slot
		// before a batch's, so it says which is which (the inbox's estimate, issue 21 must 5).
		tr.Signing, tr.WaitingInteractive, tr.WaitingBatch = r.Signing, r.Waiting[interactive], r.Waiting[background]
	}
	out := make([]contracts.TokenRate, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	return out
}

func (r *Results) putTokenRate(ctx context.Context, tr contracts.TokenRate) error {
	b, err := json.Marshal(tr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, err = r.kv.Put(ctx, contracts.TokenRateKey(tr.Token, tr.Worker), b)
	return err
}
