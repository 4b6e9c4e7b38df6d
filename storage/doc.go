// Package storage keeps Signet's signed artefacts (signed PDF, detached CMS, signing report) so that any
// number of workers can write them and users can download them: in S3-compatible object storage (MinIO,
// Ceph RGW, AWS S3) in production, or in a local directory for the embedded single-node default.
//
// Every object carries the SHA-256 of its bytes (x-amz-meta-sha256 in S3; locally the user.signet.meta
// extended attribute or, where the file system has none, a sidecar file), and reads verify it, so a
// tampered or half-written artefact surfaces as ErrIntegrity.
//
// The package must never hold a whole object in memory, never let a key escape the storage root
// (keys are validated: no "..", no absolute paths, no hidden segments), and never put credentials or
// link secrets into logs, errors or URLs.
package storage
