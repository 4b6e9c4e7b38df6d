package routes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/producer/requests"
)

// Gate is the requests' Queue (requests.Service.Queue) with the routes' rule in front: a route
// party's job is queued only while it holds its route's document, and it signs the latest revision.
// Other requests pass through to Inner unchanged.
type Gate struct {
	Inner  requests.Queue
	Engine *Engine
	// Wait bounds how long a party's Sign waits for another party's signature on the same document
	// (default one minute; signing takes seconds).
	Wait time.Duration
}

// Submit holds the route's document for the request's job, points the job at the latest revision
// and queues it; while another party's signature is being made it waits for it (up to Wait).
func (g Gate) Submit(ctx context.Context, r *requests.Request, grantID string) error {
	routeID := RouteOfJob(r.ID)
	if routeID == "" {
		return g.Inner.Submit(ctx, r, grantID)
	}
	wait := g.Wait
	if wait <= 0 {
		wait = time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var key string
	for {
		k, err := g.Engine.Hold(ctx, routeID, r.ID)
		if err == nil {
			key = k
			break
		}
		if !errors.Is(err, ErrBusy) {
			return err
		}
		if werr := g.Engine.WaitHold(wctx, routeID); werr != nil {
			return err // ErrBusy: try again in a minute
		}
	}
	r.Job.Document.URL = contracts.SharedStoragePrefix + key
	if err := g.Inner.Submit(ctx, r, grantID); err != nil {
		if rerr := g.Engine.Release(context.WithoutCancel(ctx), routeID, r.ID); rerr != nil {
			return fmt.Errorf("%w (and the document's hold stays until it goes stale: %v)", err, rerr)
		}
		return err
	}
	return nil
}

// End passes a declined or expired request on: its outcome record advances the route like a job's.
func (g Gate) End(ctx context.Context, r *requests.Request, outcome contracts.Outcome, reason string) error {
	return g.Inner.End(ctx, r, outcome, reason)
}

var _ Requests = (*requests.Service)(nil)
