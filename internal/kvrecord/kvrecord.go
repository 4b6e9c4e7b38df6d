// Package kvrecord keeps JSON records in a JetStream KV bucket, one key per record under a prefix,
// each changed only by compare-and-set on the revision it was read at. The requests to sign
// (producer/requests) and the signing routes (producer/routes) are such records: two people may act
// on one at the same moment, and the second must see the first's change rather than overwrite it.
package kvrecord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Records is the records of type T in KV, under keys Prefix + "." + id. Noun names one in errors
// ("request", "route"); NotFound, Changed and Exists are the owner's errors for a missing record, a
// record written since it was read, and an id already taken (nil: reported like any failure).
type Records[T any] struct {
	KV                        jetstream.KeyValue
	Prefix, Noun              string
	NotFound, Changed, Exists error
}

func (s Records[T]) key(id string) string { return s.Prefix + "." + id }

// Create stores a new record; Exists when its id is taken.
func (s Records[T]) Create(ctx context.Context, id string, v *T) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := s.KV.Create(ctx, s.key(id), b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) && s.Exists != nil {
			return s.Exists
		}
		return fmt.Errorf("storing %s %s: %w; try again", s.Noun, id, err)
	}
	return nil
}

// Get returns a record and its revision; NotFound when there is none.
func (s Records[T]) Get(ctx context.Context, id string) (*T, uint64, error) {
	e, err := s.KV.Get(ctx, s.key(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, 0, s.NotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s %s: %w; try again", s.Noun, id, err)
	}
	var v T
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return nil, 0, fmt.Errorf("%s %s: damaged record: %w", s.Noun, id, err)
	}
	return &v, e.Revision(), nil
}

// Update writes v over revision rev; Changed when someone wrote in between.
func (s Records[T]) Update(ctx context.Context, id string, v *T, rev uint64) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	n, err := s.KV.Update(ctx, s.key(id), b, rev)
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, s.Changed
	}
	if err != nil {
		return 0, fmt.Errorf("recording %s %s: %w; try again", s.Noun, id, err)
	}
	return n, nil
}

// All returns every stored record (a sweeper's or a list's walk); one removed meanwhile is skipped.
func (s Records[T]) All(ctx context.Context) ([]*T, error) {
	lister, err := s.KV.ListKeysFiltered(ctx, s.Prefix+".*")
	if err != nil {
		return nil, fmt.Errorf("listing %ss: %w", s.Noun, err)
	}
	var out []*T
	for k := range lister.Keys() {
		id, ok := strings.CutPrefix(k, s.Prefix+".")
		if !ok {
			continue
		}
		v, _, err := s.Get(ctx, id)
		if errors.Is(err, s.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
