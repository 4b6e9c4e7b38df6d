// Package ops is the operator's view of a running Signet: a snapshot of every stream and consumer
// (what `nats consumer report` shows: pending, ack pending, redelivered), a ring buffer of such
// snapshots for the last hour, and the /ops dashboard page drawn from it (server-rendered, inline SVG,
// no external assets), with the DEAD letters and a retry button.
//
// It reads JetStream and never changes a stream, except that a retry republishes one dead letter and
// deletes it from DEAD (internal/queue.Republish, the same as `signet dlq retry`).
//
// The page is Signet-wide: DEAD and the consumers hold every portal's jobs, so its guard must admit
// only a Signet-wide administrator (the admin API's bearer token), never a portal administrator's
// control-panel session.
package ops
