package pades

// NSS (poppler's pdfsig) and some other signers write CMS with BER indefinite lengths; Verify turns
// them into definite lengths (X.690 §8.1.3.6 → §10.1) so the DER reader can follow them. Values are
// kept byte for byte, so signed attributes (always DER) still verify.

import "errors"

var errBER = errors.New("malformed BER")

// berToDER converts indefinite lengths to definite ones; trailing bytes (the zero padding of
// /Contents) are dropped.
func berToDER(b []byte) ([]byte, error) {
	out, _, err := berElement(b, 0)
	return out, err
}

// berElement converts the element at b[0:] and returns it and the number of input bytes used.
func berElement(b []byte, depth int) ([]byte, int, error) {
	if depth > 64 || len(b) < 2 {
		return nil, 0, errBER
	}
	p := 1
	if b[0]&0x1f == 0x1f { // high tag number form
		for p < len(b) && b[p]&0x80 != 0 {
			p++
		}
		p++
	}
	if p >= len(b) {
		return nil, 0, errBER
	}
	tag := b[:p]
	constructed := b[0]&0x20 != 0
	l := int(b[p])
	p++
	if l == 0x80 {
		if !constructed {
			return nil, 0, errBER
		}
		var content []byte
		for {
			if p+2 > len(b) {
				return nil, 0, errBER
			}
			if b[p] == 0 && b[p+1] == 0 {
				p += 2
				break
			}
			e, n, err := berElement(b[p:], depth+1)
			if err != nil {
				return nil, 0, err
			}
			content = append(content, e...)
			p += n
		}
		return appendTLV(tag, content), p, nil
	}
	if l&0x80 != 0 {
		nb := l & 0x7f
		if nb == 0 || nb > 4 || p+nb > len(b) {
			return nil, 0, errBER
		}
		l = 0
		for i := 0; i < nb; i++ {
			l = l<<8 | int(b[p+i])
		}
		p += nb
	}
	if l < 0 || p+l > len(b) {
		return nil, 0, errBER
	}
	body := b[p : p+l]
	if !constructed {
		return appendTLV(tag, body), p + l, nil
	}
	var content []byte
	for q := 0; q < len(body); {
		e, n, err := berElement(body[q:], depth+1)
		if err != nil {
			return nil, 0, err
		}
		content = append(content, e...)
		q += n
	}
	return appendTLV(tag, content), p + l, nil
}

func appendTLV(tag, content []byte) []byte {
	out := append([]byte(nil), tag...)
	n := len(content)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	case n < 0x10000:
		out = append(out, 0x82, byte(n>>8), byte(n))
	case n < 0x1000000:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		out = append(out, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, content...)
}
