package main

import (
	"context"

	"github.com/signet-b24/signet/internal/ops"
	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/web"
)

// mountOps serves the operator dashboard at /ops behind the administrator check, and samples the
// streams and consumers for its charts (last hour, every 15 s) until the process ends.
func (a *app) mountOps(mux routes.Mux) {
	ctx, cancel := context.WithCancel(context.Background())
	a.closers = append(a.closers, cancel)
	ring := &ops.Ring{JS: a.js, Log: a.log.Named("ops")}
	go ring.Run(ctx)
	page := &web.OpsPage{JS: a.js, Ring: ring, Log: a.log.Named("ops")}
	if a.keys != nil {
		page.Tokens = func() []ops.Token {
			var out []ops.Token
			for _, t := range a.keys.Status() {
				out = append(out, ops.Token{Name: t.Name, Online: t.Online, Err: t.Err, SessionsInUse: t.SessionsInUse, MaxSessions: t.MaxSessions})
			}
			return out
		}
	}
	if a.results != nil {
		page.Signed = func(ctx context.Context, jobID string) (bool, error) {
			s, err := a.results.Signed(ctx, jobID)
			return s != nil, err
		}
	}
	if m := a.listener(listenerMetrics); m != nil {
		page.Metrics = m.URL()
	}
	page.Routes(mux, a.adminOnly)
}
