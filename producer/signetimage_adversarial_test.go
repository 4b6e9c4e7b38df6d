package producer

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/producer/identity"
)

// pngOf is a w×h PNG, half transparent, with a dark stroke: a signature as the canvas sends it.
func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		img.Set(x, h/2, color.NRGBA{0x1a, 0x2b, 0x6d, 0xff})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hugePNG is a tiny file whose header claims w×h pixels (with a valid CRC): a decompression bomb
// for anything that decodes before it checks.
func hugePNG(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk := func(typ string, data []byte) []byte {
		var b bytes.Buffer
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
		return b.Bytes()
	}
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, chunk("IHDR", ihdr)...)
	out = append(out, chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(out, chunk("IEND", nil)...)
}

func dataURL(kind string, b []byte) string {
	return "data:image/" + kind + ";base64," + base64.StdEncoding.EncodeToString(b)
}

// addAdminSigner makes the portal's administrator (emulator.AdminUserID) the Signet user boss, who
// needs no code.
func addAdminSigner(t *testing.T, f *fixture) {
	t.Helper()
	err := f.id.AddUser(context.Background(), identity.User{Login: "boss", BitrixIDs: map[string]int{f.portal.MemberID(): emulator.AdminUserID},
		OTPDisabled: true, Credentials: []string{cred}})
	if err != nil {
		t.Fatal(err)
	}
}

// dialogForm opens the dialog of deal 42 for Bitrix24 user uid and fills a valid submission.
func dialogForm(t *testing.T, f *fixture, uid int) url.Values {
	t.Helper()
	resp, page := openDialog(t, f, uid, 42, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dialog: HTTP %d: %s", resp.StatusCode, page)
	}
	hidden, docs := dialogFields(page)
	if len(docs) == 0 {
		t.Fatal("no document in the dialog")
	}
	return url.Values{"ctx": {hidden["ctx"]}, "csrf": {hidden["csrf"]}, "document": {docs[0][1]}, "credential": {cred},
		"otp": {""}, "visible": {"Y"}, "page": {"last"}, "position": {"bottom-right"}}
}

// Hostile pictures through the Sign dialog (issue 19, must 6): a PNG whose header claims 60 000 ×
// 60 000 pixels, a GIF, an SVG with a script, a picture over 2 MiB, a data: URL of another type.
// Each is refused with 422 before anything is decoded beyond its header; no job is queued and nothing
// is saved for the next dialog, although the form asked to save. The submitter is the portal's
// administrator, the one person whose company stamp is read at all.
func TestAttackHostileSignetImage(t *testing.T) {
	f := dialogFixture(t, "contract")
	addAdminSigner(t, f)
	big := append(pngOf(t, 10, 10), bytes.Repeat([]byte{0}, 3<<20)...)
	cases := map[string]url.Values{
		"bomb":    {"signature_image": {dataURL("png", hugePNG(60000, 60000))}},
		"stamp":   {"company_stamp": {dataURL("png", hugePNG(2001, 10))}},
		"gif":     {"signature_image": {dataURL("png", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))}},
		"svg":     {"company_stamp": {"data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(`<svg onload="alert(1)"/>`))}},
		"big":     {"signature_image": {dataURL("png", big)}},
		"garbage": {"signature_image": {"data:image/png;base64,!!!"}},
	}
	before := streamMsgs(t, f.js, contracts.StreamSign)
	for name, extra := range cases {
		form := dialogForm(t, f, emulator.AdminUserID)
		form.Set("save_images", "Y")
		for k, v := range extra {
			form[k] = v
		}
		if st, out := submit(t, f, form); st != http.StatusUnprocessableEntity || out["status"] != "refused" {
			t.Errorf("%s: HTTP %d %v, want 422 refused", name, st, out)
		}
	}
	if n := streamMsgs(t, f.js, contracts.StreamSign); n != before {
		t.Errorf("SIGN grew from %d to %d: a hostile picture queued a job", before, n)
	}
	if kv, err := f.js.KeyValue(context.Background(), BucketSignetImages); err == nil {
		if keys, _ := kv.ListKeys(context.Background()); keys != nil {
			for k := range keys.Keys() {
				t.Errorf("a refused submission saved %s", k)
			}
		}
	}
}

// A polyglot — a real PNG with a ZIP and a script appended — passes as a picture, but what reaches
// the job (and the document) is a fresh PNG made from its pixels: the appended bytes are gone. The
// pictures are saved on request and offered by the next dialog.
func TestAttackPolyglotSignetImageReencoded(t *testing.T) {
	f := dialogFixture(t, "contract")
	addAdminSigner(t, f)
	payload := []byte("PK\x03\x04<script>alert(document.cookie)</script>")
	poly := append(pngOf(t, 300, 100), payload...)
	form := dialogForm(t, f, emulator.AdminUserID)
	form.Set("signature_image", dataURL("png", poly))
	form.Set("company_stamp", dataURL("png", pngOf(t, 120, 120)))
	job := submitSaving(t, f, form)
	img := job.Stamp.Image
	if !bytes.HasPrefix(img, []byte("\x89PNG")) || bytes.Contains(img, []byte("<script>")) || bytes.Contains(img, []byte("PK\x03\x04")) {
		t.Fatalf("the job's picture is not a clean PNG (%d bytes)", len(img))
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil || cfg.Width <= 300 || cfg.Height != 120 {
		t.Fatalf("the joined picture: %+v %v, want the signature and the stamp side by side, 120 high", cfg, err)
	}
	_, page := openDialog(t, f, emulator.AdminUserID, 42, nil)
	if strings.Count(page, `value="data:image/png;base64,`) != 2 {
		t.Error("the next dialog does not offer the saved signature and stamp")
	}
}

// An employee who is not the portal's administrator cannot set the company stamp (issue 19, must 6):
// the stamp they send is neither used nor saved; keeping the field uses the company's saved stamp,
// and the dialog offers no stamp upload to them.
func TestAttackCompanyStampByEmployee(t *testing.T) {
	f := dialogFixture(t, "contract")
	addAdminSigner(t, f)
	saved := pngOf(t, 120, 120)
	form := dialogForm(t, f, emulator.AdminUserID)
	form.Set("company_stamp", dataURL("png", saved))
	form.Set("save_images", "Y")
	if st, out := submit(t, f, form); st != http.StatusAccepted {
		t.Fatalf("the administrator's stamp: HTTP %d %v", st, out)
	}
	_, page := openDialog(t, f, 7, 42, nil)
	if strings.Contains(page, `id="stamp-file"`) {
		t.Error("the dialog offers a stamp upload to an employee")
	}
	form = dialogForm(t, f, 7)
	form.Set("company_stamp", dataURL("png", pngOf(t, 400, 50)))
	job := submitSaving(t, f, form)
	if cfg, err := png.DecodeConfig(bytes.NewReader(job.Stamp.Image)); err != nil || cfg.Width != 120 || cfg.Height != 120 {
		t.Errorf("the employee's job carries %+v (%v), want the company's saved 120×120 stamp", cfg, err)
	}
	kv, err := f.js.KeyValue(context.Background(), BucketSignetImages)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), companyStampKey(f.portal.MemberID()))
	if err != nil {
		t.Fatal(err)
	}
	if cfg, _ := png.DecodeConfig(bytes.NewReader(e.Value())); cfg.Width != 120 {
		t.Errorf("the employee replaced the company's saved stamp (now %d wide)", cfg.Width)
	}
}

// submitSaving sends the form asking to save its pictures, which must queue a job, and returns it.
func submitSaving(t *testing.T, f *fixture, form url.Values) *contracts.SignJob {
	t.Helper()
	form.Set("save_images", "Y")
	if st, out := submit(t, f, form); st != http.StatusAccepted {
		t.Fatalf("submit: HTTP %d %v", st, out)
	}
	job, err := contracts.DecodeSignJob(lastMsg(t, f.js, contracts.StreamSign, contracts.SubjectSignInteractive))
	if err != nil {
		t.Fatal(err)
	}
	return job
}
