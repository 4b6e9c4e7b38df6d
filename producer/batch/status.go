package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/queue"
)

// Status is a batch's progress, read from the results the callback path records for every job
// ("out.<job id>" in the jobs bucket, written by worker.Results.SaveOutcome) and from DEAD.
type Status struct {
	ID        string    `json:"id"`
	Login     string    `json:"login"`
	Source    string    `json:"source"`
	Created   time.Time `json:"created"`
	Total     int       `json:"total"`
	Published int       `json:"published"`
	Signed    int       `json:"signed"`
	Failed    int       `json:"failed"`
	Pending   int       `json:"pending"`
	// First and Last are when the first and the latest result were delivered.
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
	// Rate is documents finished per second between the batch's creation and its latest result.
	Rate float64 `json:"docs_per_s"`
	// Token is the token of the batch's credential and TokenRate the signatures a second its workers
	// measured on it (contracts.TokenRate, summed over the workers that reported in the last
	// minute); 0 when none did.
	Token     string    `json:"token,omitempty"`
	TokenRate float64   `json:"token_signatures_per_s,omitempty"`
	Failures  []Failure `json:"failures,omitempty"`
	Done      bool      `json:"done"`
}

// Failure is one document that will not be signed, with the reason a person can act on.
type Failure struct {
	N      int    `json:"n"` // 1-based, as in the manifest
	JobID  string `json:"job_id"`
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason"`
	// Kind is Reason's kind with its facts (contracts.Failure), for a page that words it in its
	// reader's language (internal/reasons); nil for a failure recorded without one.
	Kind *contracts.Failure `json:"failure,omitempty"`
	// Dead is the DEAD sequence when the job or its callback is in DEAD (`signet dlq retry SEQ`).
	Dead uint64 `json:"dead_seq,omitempty"`
}

// ReadStatus computes a batch's status. jobs is the jobs bucket (contracts.BucketJobs); it may be
// nil before any worker has created it.
func ReadStatus(ctx context.Context, js jetstream.JetStream, batches, jobs jetstream.KeyValue, id string) (*Status, error) {
	rec, err := GetRecord(ctx, batches, id)
	if err != nil {
		return nil, err
	}
	pub, err := getPublished(ctx, batches, id)
	if err != nil {
		return nil, err
	}
	st := &Status{ID: rec.ID, Login: rec.Login, Source: rec.Source, Created: rec.Created, Total: rec.Total, Published: pub}
	seen := map[int]bool{}
	name := func(n int) string {
		if n < len(rec.Names) {
			return rec.Names[n]
		}
		return ""
	}
	if jobs != nil {
		w, err := jobs.WatchFiltered(ctx, []string{contracts.DeliveredKey(id + ".*")}, jetstream.IgnoreDeletes())
		if err != nil {
			return nil, fmt.Errorf("batch %s: reading results: %w", id, err)
		}
		for e := range w.Updates() {
			if e == nil {
				break
			}
			n, ok := rec.index(strings.TrimPrefix(e.Key(), contracts.DeliveredKey("")))
			if !ok || seen[n] {
				continue
			}
			var o contracts.Delivered
			if json.Unmarshal(e.Value(), &o) != nil {
				continue
			}
			seen[n] = true
			if o.Outcome == contracts.OutcomeSigned {
				st.Signed++
			} else {
				st.Failed++
				st.Failures = append(st.Failures, Failure{N: n + 1, JobID: rec.JobID(n), Name: name(n), Reason: o.Error, Kind: o.Failure})
			}
			if st.First.IsZero() || o.Delivered.Before(st.First) {
				st.First = o.Delivered
			}
			if o.Delivered.After(st.Last) {
				st.Last = o.Delivered
			}
		}
		w.Stop()
	}
	// A job whose callback itself failed for good has no outcome: its letter in DEAD says why.
	letters, err := queue.ListDead(ctx, js)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, err
	}
	for _, l := range letters {
		n, ok := rec.index(l.JobID)
		if !ok {
			continue
		}
		if seen[n] {
			for i := range st.Failures {
				if st.Failures[i].N == n+1 && st.Failures[i].Dead == 0 {
					st.Failures[i].Dead = l.Seq
				}
			}
			continue
		}
		seen[n] = true
		st.Failed++
		st.Failures = append(st.Failures, Failure{N: n + 1, JobID: l.JobID, Name: name(n), Reason: l.Reason, Dead: l.Seq})
	}
	sort.Slice(st.Failures, func(i, j int) bool { return st.Failures[i].N < st.Failures[j].N })
	st.Pending = max(st.Total-st.Signed-st.Failed, 0)
	st.Done = st.Pending == 0
	if d := st.Last.Sub(st.Created).Seconds(); d > 0 {
		st.Rate = float64(st.Signed+st.Failed) / d
	}
	if jobs != nil && !st.Done {
		load, err := ReadTokenLoad(ctx, jobs, rec.Credential, time.Now())
		if err != nil {
			return nil, fmt.Errorf("batch %s: reading the token's rate: %w", id, err)
		}
		st.Token, st.TokenRate = load.Token, load.Rate
	}
	return st, nil
}

// Expected is the rate to estimate the time left with, given the batch's observed rate (over its
// life, or the last --watch interval): the token's measured rate, or the observed one when it is
// slower (the token is shared with other batches and people, or the bottleneck is elsewhere), so an
// estimate never promises more than either; whichever is known when only one is.
func (s *Status) Expected(observed float64) float64 {
	switch {
	case s.TokenRate <= 0:
		return observed
	case observed <= 0:
		return s.TokenRate
	}
	return min(s.TokenRate, observed)
}

// ETA estimates the time left at the given rate (0 when unknown): the batch's pending documents, by
// the same rule as a request's estimate in the inbox (TimeFor).
func (s *Status) ETA(rate float64) time.Duration {
	return TimeFor(s.Pending, rate)
}
