// Package archive keeps the signed documents in storage verifiable for years (issue 17 must 6):
// a scheduled job finds the documents whose last timestamp's TSA certificate expires within a
// window (archive.renew_before), or whose algorithms have weakened, re-extends them to PAdES B-LTA
// (validation data for the old timestamp, a new document timestamp on top: ETSI EN 319 142-1
// §5.5, the EU DSS cookbook's "signature augmentation"), writes the new revision beside the old
// one in storage, never over it, and records it in the audit trail. `signet archive status` shows
// what expires when. It runs on the worker side: it holds the TSA and writes storage, as the
// workers do (docs/architecture.md).
//
// None of the anchors (EU DSS, pyHanko, SignServer) renews an archive by itself; pyHanko's
// `ltaupdate` is the manual form of one step of this job.
package archive
