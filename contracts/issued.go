package contracts

import "time"

// IssuedCertificate is one entry of the internal CA's register of issued certificates (issue 17
// must 3): the OCSP responder answers "good" only for a serial in it (or on one of the Signet's
// tokens) and "unknown" for any other (RFC 6960 §2.2). Written when the CA issues, into the
// credentials bucket under IssuedKey; read by every process that answers OCSP.
type IssuedCertificate struct {
	// Serial is the certificate's serial number, NormalSerial form.
	Serial string `json:"serial"`
	// Issuer is the issuing CA's subject key identifier, lowercase hex.
	Issuer   string    `json:"issuer"`
	Subject  string    `json:"subject,omitempty"`
	NotAfter time.Time `json:"not_after"`
	IssuedAt time.Time `json:"issued_at"`
}

// IssuedKey is the KV key of the register entry for serial issued by the CA with key id issuer: one
// key per certificate, so that two CAs issuing at once never contend for one list.
func IssuedKey(issuer, serial string) string { return "issued." + issuer + "." + serial }
