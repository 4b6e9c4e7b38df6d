// Package evidence makes self-proving documents: before the first signature it adds a thin grey
// stripe with the document id on every page and appends a certificate-of-completion page (document
// id, SHA-256 of the original, signer, certificate, time, and a QR code linking to Signet's
// verification page), and records the same facts in the document information dictionary, so that
// the signature made afterwards covers all of them and `signet verify` can read them back.
//
// It must never touch a document that already carries a signature: pdfcpu rewrites the whole file,
// which would break it. It refuses such input (ErrAlreadySigned) and encrypted input (ErrEncrypted).
package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/font"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"github.com/signet-b24/signet/internal/fonts"
	"github.com/signet-b24/signet/pades"
)

// Sentinel errors; all three are permanent for a job (retrying cannot help).
var (
	ErrAlreadySigned = errors.New("the PDF already carries a digital signature; a self-proving page can only be added before the first signature (sign without the evidence option, or send the unsigned original)")
	ErrEncrypted     = errors.New("the PDF is encrypted; send it without a password to add the evidence page")
	ErrNotPDF        = errors.New("not a readable PDF")
	ErrNoEvidence    = errors.New("the PDF carries no Signet evidence (it was not prepared as a self-proving document)")
	// ErrUnusable: this document (or this job's id) cannot take the evidence page however often it is
	// tried — pdfcpu fails on its page tree, or the id cannot go into a URL. Reading the file, the
	// font set-up and a cancelled job are not this: they pass.
	ErrUnusable = errors.New("the evidence page cannot be added to this document")
)

// Facts are what the stripe, the completion page and the document information record.
type Facts struct {
	DocumentID string // Signet's id of the document (the job id); also the key of /verify/{id}
	// OriginalSHA256 is the hex SHA-256 of the file before Prepare; Prepare computes it when empty.
	OriginalSHA256 string
	FileName       string
	Signer         string // the person: name and Signet login, e.g. "Мария Иванова (mary)"
	Certificate    string // the certificate's subject
	CertSerial     string
	Time           time.Time
	// PublicURL is Signet's public_url; the QR code and the stripe link to PublicURL/verify/DocumentID.
	PublicURL string
	// Language ("ru") and Zone of the stripe and the completion page, the job's (issue 18): "" is
	// English, nil UTC. They are not recorded in the document information, where Time stays UTC.
	Language string
	Zone     *time.Location
}

// VerifyURL is the address of the verification page for the document.
func (f Facts) VerifyURL() string {
	return strings.TrimRight(f.PublicURL, "/") + "/verify/" + f.DocumentID
}

// Document information keys (ISO 32000-1 §14.3.3 allows custom keys in the Info dictionary).
const (
	keyDocumentID  = "SignetDocumentID"
	keyOriginal    = "SignetOriginalSHA256"
	keyFileName    = "SignetFileName"
	keySigner      = "SignetSigner"
	keyCertificate = "SignetCertificate"
	keySerial      = "SignetCertificateSerial"
	keyTime        = "SignetTime"
	keyVerifyURL   = "SignetVerifyURL"
)

// fontName is how pdfcpu knows the embedded font once installed; it embeds a subset of it.
const fontName = "DejaVuSans"

// pdfcpu's font state is package-level but guarded by its own locks, and every document has its own
// context, so Prepare calls run in parallel (go test -race runs four at once without a report).
var (
	setupOnce sync.Once
	setupErr  error
)

// setup keeps pdfcpu away from ~/.config/pdfcpu and gives it the one font that renders every signer
// name (DejaVu Sans covers Latin, Cyrillic and Greek). pdfcpu reads user fonts from a directory, so
// the font is installed once per process into a private temporary one.
func setup() error {
	setupOnce.Do(func() {
		api.DisableConfigDir()
		dir, err := os.MkdirTemp("", "signet-evidence-fonts-")
		if err != nil {
			setupErr = fmt.Errorf("evidence: font directory: %w", err)
			return
		}
		font.UserFontDir = dir
		if err := font.InstallFontFromBytesQuiet(dir, fontName, fonts.DejaVuSans); err != nil {
			setupErr = fmt.Errorf("evidence: installing the font: %w", err)
			return
		}
		setupErr = font.ReloadUserFonts()
	})
	return setupErr
}

// Prepare writes outPath: inPath with the stripe on every page, the completion page appended, and the
// facts in the document information. outPath is written through a temporary file and renamed.
func Prepare(ctx context.Context, inPath, outPath string, f Facts) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.DocumentID == "" || f.PublicURL == "" {
		return errors.New("evidence: the document id and Signet's public_url are required")
	}
	if strings.Trim(f.DocumentID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" || len(f.DocumentID) > 128 {
		return fmt.Errorf("%w: document id %q: use at most 128 letters, digits, '-' and '_' (it goes into the verification URL)", ErrUnusable, f.DocumentID)
	}
	if err := setup(); err != nil {
		return err
	}
	name := filepath.Base(inPath)
	in, err := os.ReadFile(inPath)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	sum := sha256.Sum256(in)
	if f.OriginalSHA256 == "" {
		f.OriginalSHA256 = hex.EncodeToString(sum[:])
	} else if !strings.EqualFold(f.OriginalSHA256, hex.EncodeToString(sum[:])) {
		return fmt.Errorf("%s: its SHA-256 is not the original's %s; the file changed after it was downloaded", name, f.OriginalSHA256)
	}
	if f.Time.IsZero() {
		f.Time = time.Now()
	}
	if f.FileName == "" {
		f.FileName = name
	}

	conf := model.NewDefaultConfiguration()
	conf.Cmd = model.ADDWATERMARKS
	// pdfcpu's own limits, per stream, at Signet's (pades/budget.go); the document as a whole
	// is counted by the caller (pades.Census) before it comes here.
	lim := pades.CurrentLimits()
	conf.Limits.MaxDecodeBytes = lim.MaxStreamBytes
	conf.Limits.MaxObjectCount = lim.MaxObjects
	conf.Limits.MaxXRefEntries = lim.MaxObjects
	pctx, err := api.ReadValidateAndOptimize(bytes.NewReader(in), conf)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "password") || strings.Contains(strings.ToLower(err.Error()), "encrypt") {
			return fmt.Errorf("%s: %w", name, ErrEncrypted)
		}
		return fmt.Errorf("%s: %w: %v", name, ErrNotPDF, err)
	}
	if pctx.Encrypt != nil {
		return fmt.Errorf("%s: %w", name, ErrEncrypted)
	}
	if signed(pctx) {
		return fmt.Errorf("%s: %w", name, ErrAlreadySigned)
	}
	if err := pctx.EnsurePageCount(); err != nil {
		return fmt.Errorf("%s: %w: %v", name, ErrNotPDF, err)
	}
	n := pctx.PageCount
	if err := pctx.InsertBlankPages(types.IntSet{n: true}, completionPageSize(pctx, n), false); err != nil {
		return fmt.Errorf("%s: %w: adding the completion page: %w", name, ErrUnusable, err)
	}
	pctx.PageCount = 0 // pdfcpu caches the count; read it again from the page tree
	if err := pctx.EnsurePageCount(); err != nil {
		return fmt.Errorf("%s: %w: %w", name, ErrUnusable, err)
	}
	if pctx.PageCount != n+1 {
		return fmt.Errorf("%s: %w: the completion page was not added (%d pages, want %d)", name, ErrUnusable, pctx.PageCount, n+1)
	}
	m := map[int][]*model.Watermark{}
	for p := 1; p <= pctx.PageCount; p++ {
		s, err := stripe(f)
		if err != nil {
			return err
		}
		m[p] = []*model.Watermark{s}
	}
	page, err := completionPage(f)
	if err != nil {
		return err
	}
	last := pctx.PageCount
	m[last] = append(page, m[last]...)
	if err := pdfcpu.AddWatermarksSliceMap(pctx, m); err != nil {
		return fmt.Errorf("%s: %w: drawing the evidence: %w", name, ErrUnusable, err)
	}
	if err := pdfcpu.PropertiesAdd(pctx, map[string]string{
		keyDocumentID: f.DocumentID, keyOriginal: f.OriginalSHA256, keyFileName: f.FileName, keySigner: f.Signer,
		keyCertificate: f.Certificate, keySerial: f.CertSerial, keyTime: f.Time.UTC().Format(time.RFC3339), keyVerifyURL: f.VerifyURL(),
	}); err != nil {
		return fmt.Errorf("%s: %w: recording the evidence: %w", name, ErrUnusable, err)
	}
	return writeAtomically(outPath, func(w io.Writer) error { return api.Write(pctx, w, conf) })
}

// Read returns the facts Prepare recorded in a (prepared, usually signed) PDF. They are only as
// trustworthy as the signature over them: check that a valid signature covers the whole file.
func Read(path string) (*Facts, error) {
	if err := setup(); err != nil {
		return nil, err
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	props, err := api.Properties(file, model.NewDefaultConfiguration())
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", filepath.Base(path), ErrNotPDF, err)
	}
	if props[keyDocumentID] == "" {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), ErrNoEvidence)
	}
	f := &Facts{DocumentID: props[keyDocumentID], OriginalSHA256: props[keyOriginal], FileName: props[keyFileName],
		Signer: props[keySigner], Certificate: props[keyCertificate], CertSerial: props[keySerial]}
	f.Time, _ = time.Parse(time.RFC3339, props[keyTime])
	if u := props[keyVerifyURL]; strings.HasSuffix(u, "/verify/"+f.DocumentID) {
		f.PublicURL = strings.TrimSuffix(u, "/verify/"+f.DocumentID)
	}
	return f, nil
}

// signed reports whether the document carries a signature or usage-rights signature: a signature
// dictionary (/Type /Sig), a signature field with a value, or /Perms in the catalog (ISO 32000-1
// §12.8). Any of them would be broken by rewriting the file.
func signed(ctx *model.Context) bool {
	if ctx.SignatureExist || ctx.AppendOnly {
		return true
	}
	if root, err := ctx.Catalog(); err == nil {
		if _, ok := root.Find("Perms"); ok {
			return true
		}
	}
	for _, entry := range ctx.Table {
		if entry == nil || entry.Free || entry.Object == nil {
			continue
		}
		d, ok := entry.Object.(types.Dict)
		if !ok {
			if sd, ok := entry.Object.(types.StreamDict); ok {
				d = sd.Dict
			} else {
				continue
			}
		}
		if t := d.NameEntry("Type"); t != nil && (*t == "Sig" || *t == "DocTimeStamp") {
			return true
		}
		if ft := d.NameEntry("FT"); ft != nil && *ft == "Sig" {
			if _, ok := d.Find("V"); ok {
				return true
			}
		}
	}
	return false
}

// completionPageSize is the size of the document's last page, so the completion page prints with it.
func completionPageSize(ctx *model.Context, last int) *types.Dim {
	_, _, inh, err := ctx.PageDict(last, false)
	if err != nil || inh == nil || inh.MediaBox == nil {
		return &types.Dim{Width: 595.28, Height: 841.89} // A4
	}
	box := inh.MediaBox
	if inh.CropBox != nil {
		box = inh.CropBox
	}
	if inh.Rotate == 90 || inh.Rotate == 270 || inh.Rotate == -90 {
		return &types.Dim{Width: box.Height(), Height: box.Width()}
	}
	return &types.Dim{Width: box.Width(), Height: box.Height()}
}

func writeAtomically(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".signet-evidence-*.pdf.tmp")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
	return nil
}
