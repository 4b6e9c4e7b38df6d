// Package qrcode draws the QR code of a verification link: the certificate of completion of a
// single job (worker/evidence) and of a route (producer/routes) both print one.
package qrcode

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/png"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// PNG is the PNG of a QR code (level M) for url, with its side in pixels.
func PNG(url string) ([]byte, int, error) {
	code, err := qr.Encode(url, qr.M, qr.Auto)
	if err != nil {
		return nil, 0, fmt.Errorf("QR code for %s: %w", url, err)
	}
	// Eight pixels per module and a four-module quiet zone (ISO/IEC 18004 §6.3.8), so scanners and
	// zbarimg find it even after the page is rasterised.
	modules := code.Bounds().Dx()
	size := (modules + 8) * 8
	scaled, err := barcode.Scale(code, modules*8, modules*8)
	if err != nil {
		return nil, 0, err
	}
	img := image.NewGray(image.Rect(0, 0, size, size))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(32, 32, 32+modules*8, 32+modules*8), scaled, image.Point{}, draw.Src)
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, 0, err
	}
	return b.Bytes(), size, nil
}
