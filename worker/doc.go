// Package worker is everything after the queue: the pull-consumer pools that take SignJobs and
// Callbacks from JetStream, the signing of one job (download from the portal, PAdES signature with a
// key on a PKCS#11 token, artefacts to storage) and the callbacks to Bitrix24.
//
// Its promise is "signed at most once in effect": a job's result is recorded before its callback is
// queued, a redelivered job whose result exists goes straight to its callback, and a callback failure
// never re-signs. It must never ack a job whose outcome is not recorded somewhere durable, and never
// download a document from anywhere but the job's own portal.
package worker
