// Package batch is bulk overnight signing on the producer side: it reads a manifest (CSV or JSON
// lines) or a folder of PDFs, obtains one batch grant with the signer's OTP, uploads local files to
// the artefact storage (incoming/<batch>/<n>.pdf) so that workers anywhere can fetch them, and
// publishes one SignJob per document on signet.sign.batch, each authorised through
// identity.Authorize with the grant, the one check every intake path uses. It also reads a batch's
// progress back (Status) from the results the callback path records, and copies its signed PDFs out
// of the storage under their original names (Collect).
//
// Ids are derived, never random: the batch id from the login, the credential and the manifest's
// content, a job id from the batch id and the document's index. Running the same command again after
// a crash therefore publishes nothing twice (Nats-Msg-Id = job id, JetStream keeps ids 24 hours) and
// resumes after the last document it recorded as published.
//
// It must never write an OTP or a full grant id to a log, an error or a URL.
package batch
