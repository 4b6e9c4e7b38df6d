package keyring

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
)

// Root returns the self-signed certificate at the top of the credential's chain (the credential's
// own certificate when it is self-signed), or nil when the token does not hold it.
func (c *Credential) Root() *x509.Certificate {
	all := append([]*x509.Certificate{c.Certificate}, c.Chain...)
	top := all[len(all)-1]
	if top == nil || !bytes.Equal(top.RawIssuer, top.RawSubject) ||
		top.CheckSignature(top.SignatureAlgorithm, top.RawTBSCertificate, top.Signature) != nil {
		return nil
	}
	return top
}

// ExportRoot writes the credential's root certificate to dir as root.pem and root.der, the two
// forms employees install (Windows and macOS take the DER file, Firefox/NSS and OpenSSL either).
func ExportRoot(cred *Credential, dir string) error {
	if cred == nil || cred.Certificate == nil {
		return fmt.Errorf("%w: no credential to export", ErrCertificateNotFound)
	}
	root := cred.Root()
	if root == nil {
		return fmt.Errorf("%w: the chain of %s does not end in a self-signed root stored on the token", ErrCertificateNotFound, cred.URI)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export root of %s: %w", cred.URI, err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
	if err := os.WriteFile(filepath.Join(dir, "root.pem"), p, 0o644); err != nil {
		return fmt.Errorf("export root of %s: %w", cred.URI, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root.der"), root.Raw, 0o644); err != nil {
		return fmt.Errorf("export root of %s: %w", cred.URI, err)
	}
	return nil
}
