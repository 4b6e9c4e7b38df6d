// Package contracts holds the messages that travel on the queue (SignJob, Callback, AuditEvent), their
// schema version, and the names of the JetStream streams, subjects and consumers. Both sides of the
// queue import it; it imports nothing else from Signet, so a message's shape can be read in one place.
//
// A message carries a version field "v". A reader rejects a version it does not know with
// ErrUnknownVersion instead of guessing; a writer always writes the current Version.
//
// A SignJob carries the intake's Ed25519 signature over all its fields (JobAuth, jobauth.go): the
// canonical bytes signed are defined here, so that the intake that signs and the worker that
// verifies read them from one place.
package contracts
