package main

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/budget"
	"github.com/signet-b24/signet/internal/config"
)

// openBudget opens the Bitrix24 budget every process shares (bitrix24/budget, issue 21 must 2): the
// portal's rate_per_sec and burst are for all processes together, and an OVERLOAD_LIMIT pause reaches
// them all. The bucket is made by `signet setup` or a provisioning server; a CLI command on a cluster
// without it (an older setup) gets nil and limits its few calls on its own.
func openBudget(ctx context.Context, cfg *config.Config, js jetstream.JetStream, log *zap.Logger, required bool) (*budget.Shared, error) {
	kv, err := budget.Lookup(ctx, js)
	if err != nil {
		if !required && errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return budget.New(kv, budget.Config{RatePerSec: cfg.Bitrix24.RatePerSec, Burst: cfg.Bitrix24.Burst, Log: log})
}

// budgetOf is shared as a bitrix24.Budget, nil when there is none (a nil *Shared in the interface
// would not be nil).
func budgetOf(shared *budget.Shared) bitrix24.Budget {
	if shared == nil {
		return nil
	}
	return shared
}
