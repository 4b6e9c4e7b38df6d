package bitrix24

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Batcher combines the small REST commands of many concurrent callers (timeline comments,
// bizproc.event.send, notifications of many jobs) into batch requests of at most 50 commands per
// portal (reference §7). At 2 requests per second a per-job call costs half a second; 50 jobs in one
// batch cost the same half second.
//
// Each portal has at most one batch request in flight: while it waits for the rate limiter and the
// portal, new commands queue, and the next request takes up to 50 of them. A caller's commands always
// travel together in one request, in order, so a caller may rely on the order within its group.
// Results are per command (Client.Batch): a command that succeeded is reported as done and never sent
// again; only those that the portal did not execute (rate limits) are re-sent by Client.Batch.
//
// File uploads never go through the Batcher: reference §7 lists upload endpoints under
// ERROR_BATCH_METHOD_NOT_ALLOWED, and base64 files in a batch's query strings would make one request of
// tens of megabytes that must finish within the portal's 60 s limit.
type Batcher struct {
	c      *Client
	linger time.Duration

	mu     sync.Mutex
	queues map[string]*batchQueue
}

type batchQueue struct {
	pending []*batchGroup
	running bool
}

type batchGroup struct {
	cmds []BatchCommand
	done chan batchReply
}

type batchReply struct {
	results []BatchResult
	err     error
}

// NewBatcher makes a Batcher on c. linger is how long an idle portal's first command waits for others
// to join it; 0 sends it at once. Batching does not need a linger: the commands that arrive while one
// request is in flight (or waiting for the rate limiter, which is when batching matters) all go in
// the next one, so an idle portal answers a lone command without delay and a busy one gets full
// batches.
func NewBatcher(c *Client, linger time.Duration) *Batcher {
	return &Batcher{c: c, linger: max(linger, 0), queues: map[string]*batchQueue{}}
}

// Do sends cmds (at most 50; their IDs are ignored and assigned by the Batcher) in a batch request
// shared with other callers for the same portal, and returns their results in cmds' order. The
// error is for the request as a whole (network, auth, portal blocked): a result with Err == nil and a
// Result is still a command known to have run; the others are unknown and the caller retries later.
// If ctx ends first, commands still waiting in the queue are withdrawn and Do returns an error that
// wraps ErrBatchNotExecuted and ctx's error; commands already in a request in flight may still run,
// and Do returns ctx's error alone.
func (b *Batcher) Do(ctx context.Context, memberID string, cmds []BatchCommand) ([]BatchResult, error) {
	if len(cmds) == 0 {
		return nil, nil
	}
	if len(cmds) > MaxBatchCommands {
		return nil, fmt.Errorf("%w: %d commands in one group for portal %s", ErrBatchTooLong, len(cmds), memberID)
	}
	g := &batchGroup{cmds: cmds, done: make(chan batchReply, 1)}
	b.mu.Lock()
	q, ok := b.queues[memberID]
	if !ok {
		q = &batchQueue{}
		b.queues[memberID] = q
	}
	q.pending = append(q.pending, g)
	if !q.running {
		q.running = true
		go b.run(memberID, q)
	}
	b.mu.Unlock()
	select {
	case r := <-g.done:
		return r.results, r.err
	case <-ctx.Done():
		if b.withdraw(memberID, g) {
			// Still queued: it will never be sent, and the caller may safely send it again.
			return nil, fmt.Errorf("%w: %w", ErrBatchNotExecuted, ctx.Err())
		}
		return nil, ctx.Err() // in a request already: it may have run
	}
}

// withdraw takes a group that has not been sent yet out of its queue.
func (b *Batcher) withdraw(memberID string, g *batchGroup) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queues[memberID]
	if q == nil {
		return false
	}
	for i, p := range q.pending {
		if p == g {
			q.pending = append(q.pending[:i], q.pending[i+1:]...)
			return true
		}
	}
	return false
}

func (b *Batcher) run(memberID string, q *batchQueue) {
	if b.linger > 0 {
		time.Sleep(b.linger)
	}
	for {
		b.mu.Lock()
		if len(q.pending) == 0 {
			q.running = false
			b.mu.Unlock()
			return
		}
		var take []*batchGroup
		n := 0
		for len(q.pending) > 0 && n+len(q.pending[0].cmds) <= MaxBatchCommands {
			n += len(q.pending[0].cmds)
			take = append(take, q.pending[0])
			q.pending = q.pending[1:]
		}
		b.mu.Unlock()
		b.send(memberID, take, n)
	}
}

// send runs one batch request for the groups and hands each its results. It does not use the callers'
// contexts (one caller giving up must not cancel the others' commands).
func (b *Batcher) send(memberID string, groups []*batchGroup, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	all := make([]BatchCommand, 0, n)
	for gi, g := range groups {
		for ci, c := range g.cmds {
			c.ID = fmt.Sprintf("g%02d_%02d", gi, ci) // zero-padded: JSON object keys travel sorted, and order matters within a group
			all = append(all, c)
		}
	}
	res, err := b.c.Batch(ctx, memberID, all, false)
	i := 0
	for _, g := range groups {
		var part []BatchResult
		if len(res) >= i+len(g.cmds) {
			part = append(part, res[i:i+len(g.cmds)]...)
		}
		i += len(g.cmds)
		g.done <- batchReply{results: part, err: err}
	}
}
