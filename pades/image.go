package pades

// Pictures a person hands in for the signet (issue 19, must 6): a signature drawn on the Sign
// dialog's canvas, typed from the name or uploaded, and a company stamp. They come from a browser, so
// they are hostile until proven otherwise: only PNG and JPEG, dimensions read from the header before
// a single pixel is decoded (a 1 KiB PNG can claim 100 000 × 100 000 pixels and take gigabytes to
// decode), bytes bounded, and the picture re-encoded from its pixels as a fresh PNG, so that nothing
// the sender put around or inside the pixels (a polyglot's appended ZIP or script, metadata chunks,
// a second image) reaches a document.

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
)

// Limits of a signet picture as handed in. The signet is 230×80 pt; 2000 px wide is well above
// what it shows at 600 dpi.
const (
	MaxImageInput  = 2 << 20 // bytes of an uploaded file
	MaxImageSide   = 2000    // pixels on either side
	MaxImagePixels = 2000 * 1000
)

// ErrImage is wrapped by every refusal of SanitiseImage.
var ErrImage = errors.New("signet image refused")

// checkImageHeader reads a PNG's or JPEG's dimensions from its header and refuses a picture of
// another format or over the limits, before anything is decoded.
func checkImageHeader(data []byte) (string, error) {
	if len(data) > MaxImageInput {
		return "", fmt.Errorf("%w: %d bytes; use a PNG or JPEG of at most %d MiB", ErrImage, len(data), MaxImageInput>>20)
	}
	var (
		cfg  image.Config
		err  error
		kind string
	)
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		kind = "png"
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}):
		kind = "jpeg"
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	default:
		return "", fmt.Errorf("%w: not a PNG or JPEG picture", ErrImage)
	}
	if err != nil {
		return "", fmt.Errorf("%w: the %s header is unreadable: %v", ErrImage, kind, err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxImageSide || cfg.Height > MaxImageSide || cfg.Width*cfg.Height > MaxImagePixels {
		return "", fmt.Errorf("%w: %d×%d pixels; at most %d on a side and %d in all", ErrImage, cfg.Width, cfg.Height, MaxImageSide, MaxImagePixels)
	}
	return kind, nil
}

// SanitiseImage checks a picture handed in for the signet and returns it re-encoded as a PNG from
// its decoded pixels alone.
func SanitiseImage(data []byte) ([]byte, error) {
	kind, err := checkImageHeader(data)
	if err != nil {
		return nil, err
	}
	var img image.Image
	if kind == "png" {
		img, err = png.Decode(bytes.NewReader(data))
	} else {
		img, err = jpeg.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the %s picture does not decode: %v", ErrImage, kind, err)
	}
	return encodePNG(img)
}

// SideBySide joins sanitised pictures (the signature, then the company stamp) into one, left to
// right, each scaled to the tallest one's height by nearest neighbour: the signet has one picture
// box (appearance.go). Empty inputs are skipped; none gives nil.
func SideBySide(pics ...[]byte) ([]byte, error) {
	var imgs []image.Image
	for _, p := range pics {
		if len(p) == 0 {
			continue
		}
		if _, err := checkImageHeader(p); err != nil {
			return nil, err
		}
		img, err := png.Decode(bytes.NewReader(p))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrImage, err)
		}
		imgs = append(imgs, img)
	}
	switch len(imgs) {
	case 0:
		return nil, nil
	case 1:
		return encodePNG(imgs[0])
	}
	h := 0
	for _, im := range imgs {
		h = max(h, im.Bounds().Dy())
	}
	widths, total := make([]int, len(imgs)), 0
	for i, im := range imgs {
		b := im.Bounds()
		widths[i] = b.Dx() * h / b.Dy()
		total += widths[i]
	}
	if total > 2*MaxImageSide {
		return nil, fmt.Errorf("%w: the joined picture would be %d pixels wide", ErrImage, total)
	}
	out := image.NewNRGBA(image.Rect(0, 0, total, h))
	x0 := 0
	for i, im := range imgs {
		b := im.Bounds()
		for y := 0; y < h; y++ {
			for x := 0; x < widths[i]; x++ {
				out.Set(x0+x, y, im.At(b.Min.X+x*b.Dx()/widths[i], b.Min.Y+y*b.Dy()/h))
			}
		}
		x0 += widths[i]
	}
	return encodePNG(out)
}

func encodePNG(img image.Image) ([]byte, error) {
	b := img.Bounds()
	n := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(n, n.Bounds(), img, b.Min, draw.Src)
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, n); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
