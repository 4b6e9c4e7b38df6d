package keyring

import (
	"bytes"
	"crypto/x509"
	"fmt"

	"github.com/ThalesIgnite/crypto11"
	"github.com/miekg/pkcs11"
)

// crypto11 finds key pairs and certificates by CKA_ID/CKA_LABEL only. Listing a token and finding
// chain certificates by subject need a plain C_FindObjects, done here through the module's own
// handle on a session of the token's slot. The library is initialised and the user logged in by the
// token's live context; these functions run only inside token.do, which guarantees that.

type p11Object struct {
	handle pkcs11.ObjectHandle
	id     []byte
	label  []byte
	cert   *x509.Certificate // certificate objects only
}

// findObjects returns the objects of class matching the extra template attributes.
func (t *token) findObjects(class uint, extra ...*pkcs11.Attribute) ([]p11Object, error) {
	raw := t.mod.raw
	sess, err := raw.OpenSession(t.id.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return nil, fmt.Errorf("open session on slot %d: %w", t.id.slot, err)
	}
	defer func() { _ = raw.CloseSession(sess) }()
	tmpl := append([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}, extra...)
	if err := raw.FindObjectsInit(sess, tmpl); err != nil {
		return nil, fmt.Errorf("find objects: %w", err)
	}
	var handles []pkcs11.ObjectHandle
	for {
		hs, _, err := raw.FindObjects(sess, 64)
		if err != nil {
			_ = raw.FindObjectsFinal(sess)
			return nil, fmt.Errorf("find objects: %w", err)
		}
		if len(hs) == 0 {
			break
		}
		handles = append(handles, hs...)
	}
	if err := raw.FindObjectsFinal(sess); err != nil {
		return nil, fmt.Errorf("find objects: %w", err)
	}
	out := make([]p11Object, 0, len(handles))
	for _, h := range handles {
		attrs := []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
		}
		if class == pkcs11.CKO_CERTIFICATE {
			attrs = append(attrs, pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil))
		}
		attrs, err := raw.GetAttributeValue(sess, h, attrs)
		if err != nil {
			return nil, fmt.Errorf("read object attributes: %w", err)
		}
		o := p11Object{handle: h, id: attrs[0].Value, label: attrs[1].Value}
		if class == pkcs11.CKO_CERTIFICATE {
			c, err := x509.ParseCertificate(attrs[2].Value)
			if err != nil {
				continue // not X.509 we can read; not ours to use
			}
			o.cert = c
		}
		out = append(out, o)
	}
	return out, nil
}

// destroyObjects deletes the objects of class with exactly this CKA_ID.
func (t *token) destroyObjects(class uint, id []byte) error {
	objs, err := t.findObjects(class, pkcs11.NewAttribute(pkcs11.CKA_ID, id))
	if err != nil {
		return err
	}
	raw := t.mod.raw
	sess, err := raw.OpenSession(t.id.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("open session on slot %d: %w", t.id.slot, err)
	}
	defer func() { _ = raw.CloseSession(sess) }()
	for _, o := range objs {
		if err := raw.DestroyObject(sess, o.handle); err != nil {
			return fmt.Errorf("destroy object: %w", err)
		}
	}
	return nil
}

// buildChain follows issuers from leaf through the certificates on the token, checking each
// signature, and stops at a self-signed certificate or when no issuer is stored.
func buildChain(leaf *x509.Certificate, certs []p11Object) []*x509.Certificate {
	var chain []*x509.Certificate
	cur := leaf
	for depth := 0; depth < 8; depth++ {
		if bytes.Equal(cur.RawIssuer, cur.RawSubject) && cur.CheckSignature(cur.SignatureAlgorithm, cur.RawTBSCertificate, cur.Signature) == nil {
			break
		}
		var next *x509.Certificate
		for _, o := range certs {
			c := o.cert
			if c == nil || !bytes.Equal(c.RawSubject, cur.RawIssuer) || c.Equal(cur) {
				continue
			}
			if cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
		cur = next
	}
	return chain
}

// keyAttrs reads CKA_ID and CKA_LABEL of a crypto11 key.
func keyAttrs(ctx p11Context, s crypto11.Signer) (id, label []byte, err error) {
	as, err := ctx.GetAttributes(s, []crypto11.AttributeType{crypto11.CkaId, crypto11.CkaLabel})
	if err != nil {
		return nil, nil, err
	}
	if a := as[crypto11.CkaId]; a != nil {
		id = a.Value
	}
	if a := as[crypto11.CkaLabel]; a != nil {
		label = a.Value
	}
	return id, label, nil
}
