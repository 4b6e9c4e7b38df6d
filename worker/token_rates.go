package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// tokenRatesEvery is how often a worker writes its tokens' measured rates to the jobs bucket;
// contracts.TokenRateFresh is six of these. A variable so that tests can shorten it.
var tokenRatesEvery = 10 * time.Second

// publishTokenRates keeps the measured rate of every token this worker signs with in the jobs bucket
// (contracts.TokenRate), where the batch status finds it, until ctx ends.
func (p *Pool) publishTokenRates(ctx context.Context) {
	if p.Signer == nil || p.Signer.Tokens == nil || p.Signer.Results == nil {
		return
	}
	host, _ := os.Hostname()
	worker := fmt.Sprintf("%s/%d", host, os.Getpid())
	t := time.NewTicker(tokenRatesEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, r := range p.Signer.Tokens.Rates() {
			if r.Rate <= 0 {
				continue
			}
			if err := p.Signer.Results.putTokenRate(ctx, contracts.TokenRate{Token: r.Token, Label: r.Label, Worker: worker,
				Rate: r.Rate, Concurrency: r.Limits.Concurrency, RatePerSec: r.Limits.RatePerSec, Updated: p.now().UTC()}); err != nil {
				p.Log.Debug("token rate not recorded; the batch status estimates from the batch's own rate meanwhile", zap.String("token", r.Token), zap.Error(err))
			}
		}
	}
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
