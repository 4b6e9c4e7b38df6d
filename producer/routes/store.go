package routes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/internal/kvrecord"
)

// Bucket holds the routes, one key per route ("rt.<id>"), and the sweeper's lease. Only this
// package opens it (docs/architecture.md, rule 2), so it is named here.
const Bucket = "signet_routes"

// keepEnded is how long an ended route stays readable (its page, `signet route status`).
const keepEnded = 30 * 24 * time.Hour

// Store keeps routes in Bucket.
type Store struct {
	kv jetstream.KeyValue
	// records are the routes, "rt.<id>" (internal/kvrecord).
	records kvrecord.Records[Route]
}

// OpenStore opens (creating on first use) the routes bucket.
func OpenStore(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	kv, err := js.KeyValue(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      Bucket,
			Description: "Signing routes: steps, parties and their state (issue 20), by route id",
			History:     1,
			TTL:         MaxDeadline + keepEnded,
			Replicas:    max(replicas, 1),
			Storage:     jetstream.FileStorage,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("routes bucket %s: %w", Bucket, err)
	}
	return &Store{kv: kv, records: kvrecord.Records[Route]{KV: kv, Prefix: "rt", Noun: "route", NotFound: ErrNotFound, Changed: ErrChanged}}, nil
}

func key(id string) string { return "rt." + id }

// NewID makes a route id: "rt" and 24 hex digits.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "rt" + hex.EncodeToString(b[:])
}

// validID: route ids are "rt" and hex; anything else is never a key.
func validID(id string) bool {
	if len(id) != 26 || !strings.HasPrefix(id, "rt") {
		return false
	}
	_, err := hex.DecodeString(id[2:])
	return err == nil
}

// JobID is the job (and inbox request) id of a party's act: "<route>-<step><party>", e.g.
// "rt0123…-s1p2". RouteOfJob reads the route back from it.
func JobID(routeID, stepID, partyID string) string { return routeID + "-" + stepID + partyID }

// RouteOfJob returns the route id of a route party's job, or "" for any other job.
func RouteOfJob(jobID string) string {
	id, _, ok := strings.Cut(jobID, "-")
	if !ok || !validID(id) {
		return ""
	}
	return id
}

// create stores a new route.
func (s *Store) create(ctx context.Context, r *Route) error { return s.records.Create(ctx, r.ID, r) }

// Get returns a route and its revision.
func (s *Store) Get(ctx context.Context, id string) (*Route, uint64, error) {
	if !validID(id) {
		return nil, 0, ErrNotFound
	}
	return s.records.Get(ctx, id)
}

// update writes r over revision rev; ErrChanged when someone wrote in between.
func (s *Store) update(ctx context.Context, r *Route, rev uint64) (uint64, error) {
	return s.records.Update(ctx, r.ID, r, rev)
}

// change applies fn to the latest copy of route id and stores it by compare-and-set, reading again
// when another writer came first. fn returns false to leave the route as it is (nothing to do), or
// an error to stop.
func (s *Store) change(ctx context.Context, id string, fn func(r *Route) (bool, error)) (*Route, bool, error) {
	for range 10 {
		r, rev, err := s.Get(ctx, id)
		if err != nil {
			return nil, false, err
		}
		ok, err := fn(r)
		if err != nil || !ok {
			return r, false, err
		}
		if _, err := s.update(ctx, r, rev); errors.Is(err, ErrChanged) {
			continue
		} else if err != nil {
			return nil, false, err
		}
		return r, true, nil
	}
	return nil, false, ErrChanged
}

// All returns every stored route (the sweeper's and the lists' walk).
func (s *Store) All(ctx context.Context) ([]*Route, error) { return s.records.All(ctx) }

// waitChange waits until route id is written after revision rev, or ctx ends.
func (s *Store) waitChange(ctx context.Context, id string, rev uint64) error {
	w, err := s.kv.Watch(ctx, key(id), jetstream.UpdatesOnly())
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	// The write may have come between the read and the watch.
	if e, err := s.kv.Get(ctx, key(id)); err == nil && e.Revision() != rev {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-w.Updates():
		return nil
	}
}
