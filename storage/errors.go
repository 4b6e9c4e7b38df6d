package storage

import "errors"

var (
	// ErrNotFound: no object under the key (or it was deleted, or pruned by retention).
	ErrNotFound = errors.New("storage: object not found")
	// ErrIntegrity: the stored bytes do not match the SHA-256 recorded when they were written (the object
	// was edited or replaced outside Signet, or a write was interrupted). Never retry; re-sign the job.
	ErrIntegrity = errors.New("storage: object fails its SHA-256 check")
	// ErrUnavailable: the storage service could not be reached or answered with a server error; the
	// operation may succeed later, so callers retry (nak with delay) instead of failing the job.
	ErrUnavailable = errors.New("storage: storage service unavailable")
	// ErrInvalidKey: the key is empty, absolute, contains "..", a hidden segment or control characters.
	ErrInvalidKey = errors.New("storage: invalid object key")
	// ErrChecksumMismatch: Put was given a SHA-256 that the streamed data does not match; nothing stored.
	ErrChecksumMismatch = errors.New("storage: data does not match the given SHA-256")
	// ErrExpiry: a download link was asked for with an expiry ≤ 0 or longer than 7 days (S3's limit).
	ErrExpiry = errors.New("storage: link expiry must be between 1 second and 7 days")
)
