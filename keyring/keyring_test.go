package keyring

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ThalesIgnite/crypto11"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

func TestGenerateSelfSignedAndSign(t *testing.T) {
	_, cfgs := softhsmStore(t, "signet-demo")
	k := openKeyring(t, cfgs)
	ctx := context.Background()
	for _, kt := range []KeyType{RSA2048, P256} {
		t.Run(string(kt), func(t *testing.T) {
			label := "demo-signer-" + string(kt)
			cred, err := k.GenerateSelfSigned(ctx, "signet-demo", label, "CN=Signet Demo Signer,O=Signet", kt, 365)
			if err != nil {
				t.Fatal(err)
			}
			cert := cred.Certificate
			if cert.Subject.CommonName != "Signet Demo Signer" || cert.Subject.Organization[0] != "Signet" {
				t.Fatalf("subject = %s", cert.Subject)
			}
			if cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment {
				t.Fatalf("key usage = %b", cert.KeyUsage)
			}
			if len(cert.UnknownExtKeyUsage) != 1 || !cert.UnknownExtKeyUsage[0].Equal(OIDExtKeyUsageDocumentSigning) {
				t.Fatalf("EKU = %v", cert.UnknownExtKeyUsage)
			}
			if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
				t.Fatalf("self-signature: %v", err)
			}
			if len(cred.Chain) != 0 {
				t.Fatalf("self-signed credential has a chain of %d", len(cred.Chain))
			}
			checkSignOnlyKey(t, k, cred)

			// The same credential by full URI, by object label only, by id only.
			for _, uri := range []string{
				cred.URI,
				"pkcs11:token=signet-demo;object=" + label,
				URI{Token: "signet-demo", ID: cred.ID}.String(),
			} {
				got, err := k.Credential(ctx, uri)
				if err != nil {
					t.Fatalf("Credential(%s): %v", uri, err)
				}
				if !got.Certificate.Equal(cert) || !bytes.Equal(got.ID, cred.ID) || got.Label != label {
					t.Fatalf("Credential(%s) = %s/%x, want %s", uri, got.Label, got.ID, cred.URI)
				}
			}
			sig := signAndVerify(t, cred, []byte("a PDF byte range"))
			verifyWithOpenSSL(t, cert, []byte("a PDF byte range"), sig)

			if _, err := k.GenerateSelfSigned(ctx, "signet-demo", label, "CN=Again", kt, 1); !errors.Is(err, ErrExists) {
				t.Fatalf("second GenerateSelfSigned with label %q: %v, want ErrExists", label, err)
			}
		})
	}
	if _, err := k.Credential(ctx, "pkcs11:token=signet-demo;object=nobody"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := k.Credential(ctx, "pkcs11:token=elsewhere;object=x"); !errors.Is(err, ErrUnknownToken) {
		t.Fatalf("unknown token: %v", err)
	}
}

// checkSignOnlyKey reads the private key's attributes from the token: it must be able to sign and
// nothing else, and must never leave the token.
func checkSignOnlyKey(t *testing.T, k *Keyring, cred *Credential) {
	t.Helper()
	tok := k.byName[cred.Token]
	want := map[crypto11.AttributeType]bool{
		crypto11.CkaSign: true, crypto11.CkaDecrypt: false, crypto11.CkaUnwrap: false,
		crypto11.CkaExtractable: false, crypto11.CkaSensitive: true, crypto11.CkaPrivate: true,
	}
	err := tok.do(func(c p11Context, gen uint64) error {
		s, err := cred.Key.(*key).current(c, gen)
		if err != nil {
			return err
		}
		var types []crypto11.AttributeType
		for a := range want {
			types = append(types, a)
		}
		got, err := c.GetAttributes(s, types)
		if err != nil {
			return err
		}
		for a, v := range want {
			attr := got[a]
			if attr == nil || len(attr.Value) != 1 || (attr.Value[0] != 0) != v {
				t.Errorf("attribute %#x of %s = %v, want %v", a, cred.URI, attr, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func verifyWithOpenSSL(t *testing.T, cert *x509.Certificate, msg, sig []byte) {
	t.Helper()
	openssl := testenv.RequireTool(t, "openssl")
	dir := t.TempDir()
	certPEM := filepath.Join(dir, "cert.pem")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	out, err := exec.Command(openssl, "x509", "-in", certPEM, "-pubkey", "-noout").Output()
	if err != nil {
		t.Fatalf("openssl x509 -pubkey: %v", err)
	}
	pub := write("pub.pem", out)
	data := write("data.bin", msg)
	sigFile := write("sig.bin", sig)
	res, err := exec.Command(openssl, "dgst", "-sha256", "-verify", pub, "-signature", sigFile, data).CombinedOutput()
	if err != nil || !bytes.Contains(res, []byte("Verified OK")) {
		t.Fatalf("openssl dgst -verify: %v: %s", err, res)
	}
}
