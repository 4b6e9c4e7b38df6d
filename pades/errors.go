package pades

import (
	"errors"
	"fmt"
)

// Sentinel errors of the PAdES engine. Every error returned by Sign, SignFile and Verify wraps one of
// these (compare with errors.Is) together with the document name and a reason a person can act on.
var (
	// ErrNotPDF: the input does not start with a %PDF- header; it is some other kind of file.
	ErrNotPDF = errors.New("not a PDF document")
	// ErrEncrypted: the PDF is encrypted; signing it would need its password and would break its
	// protection, so it is refused.
	ErrEncrypted = errors.New("PDF is encrypted")
	// ErrCorrupt: the PDF is truncated or its structure cannot be read.
	ErrCorrupt = errors.New("PDF is corrupt or truncated")
	// ErrCertified: an earlier certification signature (DocMDP P=1) forbids any further change.
	ErrCertified = errors.New("PDF is certified with no changes allowed")
	// ErrCMSTooLarge: the CMS does not fit in the space reserved for /Contents.
	ErrCMSTooLarge = errors.New("CMS signature larger than the reserved /Contents")
	// ErrFieldInUse: the requested signature field already holds a signature or is not a signature field.
	ErrFieldInUse = errors.New("signature field already used")
	// ErrBadSigner: the key, certificate or options cannot make a PAdES signature.
	ErrBadSigner = errors.New("unusable signer")
	// ErrNoSignature: Verify found no signature in the document.
	ErrNoSignature = errors.New("no signature in PDF")
	// ErrTooLarge: reading the PDF would go beyond the decoding limits (Limits): its structure streams
	// expand too far when decoded, or it lists too many objects. Retrying cannot help.
	ErrTooLarge = errors.New("PDF exceeds the decoding limits")
	// ErrBusy: other documents being read hold the process's decoding budget; retry later.
	ErrBusy = errors.New("decoding budget in use")
)

// docError wraps a sentinel with the document name and a reason.
func docError(doc string, sentinel error, format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	if doc == "" {
		doc = "document"
	}
	return fmt.Errorf("%s: %w: %s", doc, sentinel, reason)
}

// ErrBadOptions: the options cannot be applied to this document (page out of range, bad image).
var ErrBadOptions = errors.New("bad signing options")
