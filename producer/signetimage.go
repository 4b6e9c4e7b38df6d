package producer

// The pictures of the signet (issue 19, must 6): the signer's signature image (drawn on the Sign
// dialog's canvas, typed from the name and drawn there, or uploaded) and the company stamp. The
// dialog sends them as data: URLs; the intake refuses anything but a bounded PNG or JPEG, re-encodes
// it from its pixels (pades.SanitiseImage), joins the two into the signet's one picture and puts it
// in the job, which the intake signs. Saved on request, they are offered the next time: the
// signature per person (portal and login), the stamp per company (portal), in a NATS KV bucket whose
// values are bounded like the job's picture.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/pades"
)

// BucketSignetImages holds the saved signature images and company stamps, sanitised PNGs.
const BucketSignetImages = "signet_images"

// maxImageForm bounds the Sign dialog's submission now that it may carry two pictures as data: URLs
// (base64 is 4/3 of the bytes).
const maxImageForm = 2*(pades.MaxImageInput*4/3+64) + 64<<10

func signatureImageKey(memberID, login string) string {
	sum := sha256.Sum256([]byte(memberID + "|" + login))
	return "user." + hex.EncodeToString(sum[:16])
}

func companyStampKey(memberID string) string {
	sum := sha256.Sum256([]byte(memberID))
	return "company." + hex.EncodeToString(sum[:16])
}

// errImageForm is a picture field the intake refuses; the dialog shows the reason.
var errImageForm = errors.New("picture refused")

// imageFromDataURL reads a data: URL of a PNG or JPEG and returns its sanitised PNG; "" is no picture.
func imageFromDataURL(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	var b64 string
	for _, p := range []string{"data:image/png;base64,", "data:image/jpeg;base64,"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			b64 = rest
		}
	}
	if b64 == "" || len(b64) > pades.MaxImageInput*4/3+4 {
		return nil, fmt.Errorf("%w: not a PNG or JPEG of at most %d MiB", errImageForm, pades.MaxImageInput>>20)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", errImageForm)
	}
	clean, err := pades.SanitiseImage(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errImageForm, err)
	}
	return clean, nil
}

// signetImage is the job's picture from the dialog's two fields: the signature, then the stamp.
func signetImage(signature, stamp []byte) ([]byte, error) {
	img, err := pades.SideBySide(signature, stamp)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errImageForm, err)
	}
	if len(img) > contracts.MaxStampImage {
		return nil, fmt.Errorf("%w: the pictures together are %d KiB after re-encoding, over %d KiB; use smaller or simpler ones",
			errImageForm, len(img)>>10, contracts.MaxStampImage>>10)
	}
	return img, nil
}

func (in *Intake) signetImages(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := in.JS.KeyValue(ctx, BucketSignetImages)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = in.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:       BucketSignetImages,
			Description:  "Saved signature images (per person) and company stamps (per portal) for the signet, sanitised PNGs",
			History:      1,
			MaxValueSize: contracts.MaxStampImage,
			Storage:      jetstream.FileStorage,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("signet images bucket: %w", err)
	}
	return kv, nil
}

// savedImages returns the saved signature and stamp as data: URLs for the dialog ("" when none).
func (in *Intake) savedImages(ctx context.Context, memberID, login string) (signature, stamp string) {
	kv, err := in.signetImages(ctx)
	if err != nil {
		return "", ""
	}
	get := func(key string) string {
		e, err := kv.Get(ctx, key)
		if err != nil || len(e.Value()) == 0 {
			return ""
		}
		return "data:image/png;base64," + base64.StdEncoding.EncodeToString(e.Value())
	}
	return get(signatureImageKey(memberID, login)), get(companyStampKey(memberID))
}

// stampFromForm is the company stamp of a submission. An administrator of the portal may hand in any
// picture; anyone else only keeps (field not empty) or drops (empty) the company's saved stamp, whatever
// the field holds: a company stamp in a signature stands for the company, so only its administrator
// chooses it.
func (in *Intake) stampFromForm(ctx context.Context, fc formContext, field string) ([]byte, error) {
	if fc.Admin {
		return imageFromDataURL(field)
	}
	if field == "" {
		return nil, nil
	}
	kv, err := in.signetImages(ctx)
	if err != nil {
		return nil, nil
	}
	e, err := kv.Get(ctx, companyStampKey(fc.MemberID))
	if err != nil {
		return nil, nil
	}
	return e.Value(), nil
}

// saveImages keeps the sanitised pictures for the next dialog.
func (in *Intake) saveImages(ctx context.Context, memberID, login string, admin bool, signature, stamp []byte) error {
	kv, err := in.signetImages(ctx)
	if err != nil {
		return err
	}
	if len(signature) > 0 {
		if _, err := kv.Put(ctx, signatureImageKey(memberID, login), signature); err != nil {
			return err
		}
	}
	if len(stamp) > 0 && admin {
		if _, err := kv.Put(ctx, companyStampKey(memberID), stamp); err != nil {
			return err
		}
	}
	return nil
}
