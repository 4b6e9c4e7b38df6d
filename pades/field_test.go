package pades

import (
	"context"
	"crypto"
	"errors"
	"testing"
)

// TestPreparedField fills the empty signature field "Approval" of form-field.pdf (visible, in the
// field's own rectangle), then adds a second signature beside the page's inline /Annots.
func TestPreparedField(t *testing.T) {
	in := corpus(t, "form-field.pdf")
	out, res, err := Sign(context.Background(), in, rsaSigner(t), Options{FieldName: "Approval", Visible: true, Reason: "approved"})
	if err != nil {
		t.Fatal(err)
	}
	if res.FieldName != "Approval" {
		t.Fatalf("field %q, want Approval", res.FieldName)
	}
	checkSigned(t, in, out, res, 1)

	if _, _, err := Sign(context.Background(), out, rsaSigner(t), Options{FieldName: "Approval"}); !errors.Is(err, ErrFieldInUse) {
		t.Fatalf("signing a signed field again: got %v, want ErrFieldInUse", err)
	}
	out2, res2, err := Sign(context.Background(), out, ecSigner(t), Options{Visible: true, Position: TopRight})
	if err != nil {
		t.Fatal(err)
	}
	if res2.FieldName != "Signature1" {
		t.Errorf("field %q, want Signature1", res2.FieldName)
	}
	checkSigned(t, out, out2, res2, 2)
}

func TestCertifiedRefused(t *testing.T) {
	_, _, err := Sign(context.Background(), corpus(t, "certified.pdf"), rsaSigner(t), Options{})
	if !errors.Is(err, ErrCertified) {
		t.Fatalf("got %v, want ErrCertified", err)
	}
}

func TestBadOptions(t *testing.T) {
	in := corpus(t, "invoice.pdf")
	for _, o := range []Options{{Page: 2}, {Page: -2}, {Visible: true, Position: "middle"}, {Visible: true, Image: []byte("GIF89a")}} {
		if _, _, err := Sign(context.Background(), in, rsaSigner(t), o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("%+v: got %v, want ErrBadOptions", o, err)
		}
	}
	s := rsaSigner(t)
	s.Certificate = ecSigner(t).Certificate
	if _, _, err := Sign(context.Background(), in, s, Options{}); !errors.Is(err, ErrBadSigner) {
		t.Errorf("mismatched key: got %v, want ErrBadSigner", err)
	}
}

// bigTSA returns a token larger than any reservation.
type bigTSA struct{}

func (bigTSA) Timestamp(context.Context, []byte, crypto.Hash) ([]byte, error) {
	return append([]byte{0x30, 0x82, 0x9c, 0x40}, make([]byte, 40000)...), nil
}

func TestCMSTooLarge(t *testing.T) {
	_, _, err := Sign(context.Background(), corpus(t, "invoice.pdf"), rsaSigner(t), Options{TSA: bigTSA{}})
	if !errors.Is(err, ErrCMSTooLarge) {
		t.Fatalf("got %v, want ErrCMSTooLarge", err)
	}
}
