package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket holds one record per batch ("rec.<id>") and its published high-water mark ("pub.<id>").
const Bucket = "signet_batches"

// Record describes an enqueued batch.
type Record struct {
	ID         string    `json:"id"`
	Login      string    `json:"login"`
	Credential string    `json:"credential"`
	Source     string    `json:"source"`
	Total      int       `json:"total"`
	Created    time.Time `json:"created"`
	// GrantID is the batch grant the jobs carry. It stays in NATS, like the grants bucket itself; it
	// is never printed whole.
	GrantID string `json:"grant_id,omitempty"`
	// Names of the documents by index, for the failure list (left out above maxNames).
	Names []string `json:"names,omitempty"`
	// DocKey is the secret of the batch's job ids (JobID): made with the record, kept in NATS like
	// the grant id, never printed.
	DocKey string `json:"doc_key,omitempty"`
}

// maxNames bounds the names kept in a record (a KV value must fit a NATS message, 1 MB by default).
const maxNames = 10_000

func recKey(id string) string { return "rec." + id }
func pubKey(id string) string { return "pub." + id }

// OpenBucket creates or opens the batches bucket.
func OpenBucket(ctx context.Context, js jetstream.JetStream, replicas int, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "Signet batches: what was enqueued, and how far publishing got",
		History: 1, TTL: ttl, Replicas: max(replicas, 1), Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("batches bucket: %w", err)
	}
	return kv, nil
}

// ErrUnknownBatch: no batch with this id was enqueued (or its record expired with the artefacts).
var ErrUnknownBatch = errors.New("no such batch")

// GetRecord reads a batch's record.
func GetRecord(ctx context.Context, kv jetstream.KeyValue, id string) (*Record, error) {
	e, err := kv.Get(ctx, recKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("batch %s: %w; `signet batch list` shows the batches", id, ErrUnknownBatch)
	}
	if err != nil {
		return nil, fmt.Errorf("batch %s: %w", id, err)
	}
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, fmt.Errorf("batch %s: damaged record: %w", id, err)
	}
	return &r, nil
}

// createRecord stores a new batch's record unless another run of the same batch stored one first; then
// it returns that one, so that both runs publish the same job ids (made from its DocKey) and JetStream
// drops the second copy of each.
func createRecord(ctx context.Context, kv jetstream.KeyValue, r *Record) (*Record, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if _, err = kv.Create(ctx, recKey(r.ID), b); errors.Is(err, jetstream.ErrKeyExists) {
		return GetRecord(ctx, kv, r.ID)
	}
	return r, err
}

func putRecord(ctx context.Context, kv jetstream.KeyValue, r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = kv.Put(ctx, recKey(r.ID), b)
	return err
}

func getPublished(ctx context.Context, kv jetstream.KeyValue, id string) (int, error) {
	e, err := kv.Get(ctx, pubKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n int
	return n, json.Unmarshal(e.Value(), &n)
}

func putPublished(ctx context.Context, kv jetstream.KeyValue, id string, n int) error {
	_, err := kv.Put(ctx, pubKey(id), fmt.Appendf(nil, "%d", n))
	return err
}

// ListRecords returns every batch record, newest first, without the names of its documents and
// without its secrets (the grant id and the document key: `signet batch list --json` prints them).
func ListRecords(ctx context.Context, kv jetstream.KeyValue) ([]Record, error) {
	w, err := kv.WatchFiltered(ctx, []string{"rec.*"}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var out []Record
	for e := range w.Updates() {
		if e == nil {
			break
		}
		var r Record
		if json.Unmarshal(e.Value(), &r) == nil {
			r.Names, r.GrantID, r.DocKey = nil, "", ""
			out = append(out, r)
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Created.After(out[j-1].Created); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}
