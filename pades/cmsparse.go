package pades

// A reader for the CMS SignedData this package and RFC 3161 authorities write (RFC 5652 §5), used
// by Verify and by the timestamp client. It reads only what those need.

import (
	encasn1 "encoding/asn1"
	"errors"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

type parsedSignerInfo struct {
	issuerSerial []byte // DER of IssuerAndSerialNumber
	digestAlg    encasn1.ObjectIdentifier
	signedAttrs  []byte // DER with the [0] tag; the signature covers it re-tagged as SET
	attrs        map[string][]byte
	sigAlg       []byte // DER AlgorithmIdentifier
	signature    []byte
	unsigned     map[string][]byte
}

type parsedSignedData struct {
	eContentType encasn1.ObjectIdentifier
	eContent     []byte
	certs        [][]byte
	signers      []parsedSignerInfo
}

var errBadCMS = errors.New("malformed CMS SignedData")

func parseSignedData(der []byte) (*parsedSignedData, error) {
	in := cryptobyte.String(der)
	var ci, content, sd cryptobyte.String
	var ct encasn1.ObjectIdentifier
	if !in.ReadASN1(&ci, asn1.SEQUENCE) || !ci.ReadASN1ObjectIdentifier(&ct) || !ct.Equal(oidSignedData) ||
		!ci.ReadASN1(&content, tagContext0Constructed) || !content.ReadASN1(&sd, asn1.SEQUENCE) {
		return nil, errBadCMS
	}
	var p parsedSignedData
	var version int64
	var digestAlgs, encap cryptobyte.String
	if !sd.ReadASN1Integer(&version) || !sd.ReadASN1(&digestAlgs, asn1.SET) || !sd.ReadASN1(&encap, asn1.SEQUENCE) ||
		!encap.ReadASN1ObjectIdentifier(&p.eContentType) {
		return nil, errBadCMS
	}
	if encap.PeekASN1Tag(tagContext0Constructed) {
		var e, oct cryptobyte.String
		if !encap.ReadASN1(&e, tagContext0Constructed) || !e.ReadASN1(&oct, asn1.OCTET_STRING) {
			return nil, errBadCMS
		}
		p.eContent = oct
	}
	if sd.PeekASN1Tag(tagContext0Constructed) {
		var certs cryptobyte.String
		if !sd.ReadASN1(&certs, tagContext0Constructed) {
			return nil, errBadCMS
		}
		for !certs.Empty() {
			var c cryptobyte.String
			if !certs.ReadASN1Element(&c, asn1.SEQUENCE) {
				return nil, errBadCMS
			}
			p.certs = append(p.certs, c)
		}
	}
	if sd.PeekASN1Tag(tagContext1Constructed) && !sd.SkipASN1(tagContext1Constructed) {
		return nil, errBadCMS
	}
	var sis cryptobyte.String
	if !sd.ReadASN1(&sis, asn1.SET) {
		return nil, errBadCMS
	}
	for !sis.Empty() {
		var si cryptobyte.String
		var v int64
		var s parsedSignerInfo
		var sid, dalg cryptobyte.String
		if !sis.ReadASN1(&si, asn1.SEQUENCE) || !si.ReadASN1Integer(&v) || !si.ReadASN1Element(&sid, asn1.SEQUENCE) ||
			!si.ReadASN1(&dalg, asn1.SEQUENCE) || !dalg.ReadASN1ObjectIdentifier(&s.digestAlg) {
			return nil, errBadCMS
		}
		s.issuerSerial = sid
		if si.PeekASN1Tag(tagContext0Constructed) {
			var attrs cryptobyte.String
			if !si.ReadASN1Element(&attrs, tagContext0Constructed) {
				return nil, errBadCMS
			}
			s.signedAttrs = attrs
			var err error
			if s.attrs, err = parseAttributes(attrs); err != nil {
				return nil, err
			}
		}
		var sigAlg, sig cryptobyte.String
		if !si.ReadASN1Element(&sigAlg, asn1.SEQUENCE) || !si.ReadASN1(&sig, asn1.OCTET_STRING) {
			return nil, errBadCMS
		}
		s.sigAlg, s.signature = sigAlg, sig
		if si.PeekASN1Tag(tagContext1Constructed) {
			var un cryptobyte.String
			if !si.ReadASN1Element(&un, tagContext1Constructed) {
				return nil, errBadCMS
			}
			var err error
			if s.unsigned, err = parseAttributes(un); err != nil {
				return nil, err
			}
		}
		p.signers = append(p.signers, s)
	}
	return &p, nil
}

// parseAttributes maps attribute OID (dotted) → DER of its first value.
func parseAttributes(der []byte) (map[string][]byte, error) {
	in := cryptobyte.String(der)
	var set cryptobyte.String
	var tag asn1.Tag
	if !in.ReadAnyASN1(&set, &tag) {
		return nil, errBadCMS
	}
	m := map[string][]byte{}
	for !set.Empty() {
		var a, vals, v cryptobyte.String
		var oid encasn1.ObjectIdentifier
		var vtag asn1.Tag
		if !set.ReadASN1(&a, asn1.SEQUENCE) || !a.ReadASN1ObjectIdentifier(&oid) || !a.ReadASN1(&vals, asn1.SET) ||
			!vals.ReadAnyASN1Element(&v, &vtag) {
			return nil, errBadCMS
		}
		m[oid.String()] = v
	}
	return m, nil
}
