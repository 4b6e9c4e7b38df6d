// Package routes holds signing routes (issue 20, must 1 and 3): a document that passes through an
// ordered list of steps, each with one or more parties (a Signet user, a Bitrix24 user linked to
// one, or an external person) and a rule (all must act, or any one; approve only, or sign).
//
// A route is one record in its own KV bucket (Bucket, named here by architecture rule 2: only this
// package opens it). Every change is a compare-and-set on that record and each transition is an
// audit event under the route's id (AuditRouteChanged), so `signet audit story <route id>` reads
// the route's story and the route page shows who acted, when, from where and with what outcome.
//
// Signatures on one document are never made at once: a route's document is a chain of revisions
// in Signet's storage (RevisionKey: incoming/routes/<id>/<n>.pdf), each one the signed output of
// the party before, and a party's job is queued only while it holds the route's document (Holder,
// taken by compare-and-set in Gate.Submit). The job names the revision through
// contracts.SharedStoragePrefix, so the worker reads it as it reads a batch document: authorised
// under job-auth, its SHA-256 checked while read, every signature an incremental update on the
// latest revision.
//
// A party's job ends in the jobs bucket's outcome record (contracts.DeliveredKey): one watcher per
// process (Engine.Watch) hears every outcome and advances the route whose job it is; the sweeper
// (Engine.Sweep, one runner by a lease in the bucket) catches what a process missed while it was
// down, expires routes and sends reminders. There is no loop per route.
package routes
