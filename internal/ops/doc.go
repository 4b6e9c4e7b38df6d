// Package ops is the operator's view of a running Signet, as data: a snapshot of every stream and
// consumer (what `nats consumer report` shows: pending, ack pending, redelivered), a ring buffer of
// such snapshots for the last hour with each consumer's lag and throughput (History), and the retry of
// one dead letter. The /ops dashboard that shows them is web/ops.go.
//
// It reads JetStream and never changes a stream, except that a retry republishes one dead letter and
// deletes it from DEAD (internal/queue.Republish, the same as `signet dlq retry`).
package ops
