package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/pades"
)

// signOptions are the flags shared by the single-file and the batch form of `signet sign`.
type signOptions struct {
	key, pinFile, certFile, image, tsa, page, position, level string
	visible, checkRevocation                                  bool
	reason, location, name                                    string
	// tz is the zone of the signet's time (--tz, else TZ, else UTC); lang its language (LC_ALL,
	// LC_MESSAGES, LANG: i18n.FromEnv). Issue 18, must 2 and 4.
	tz, lang string
}

func (o *signOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.key, "key", "", "RFC 7512 URI of the signing key, e.g. pkcs11:token=acme;object=mary-2026")
	fs.StringVar(&o.pinFile, "pin-file", "", "file holding the PIN of the key's token (instead of the URI's pin-source or the configuration's)")
	fs.StringVar(&o.certFile, "cert", "", "PEM certificate (and chain) of the key, when it is not on the token")
	fs.BoolVar(&o.visible, "visible", false, "draw a visible signet")
	fs.StringVar(&o.page, "page", "first", "page of the visible signet: first, last or a number")
	fs.StringVar(&o.position, "position", "bottom-right", "top-left, top-center, top-right, bottom-left, bottom-center or bottom-right")
	fs.StringVar(&o.image, "image", "", "PNG (with transparency) or JPEG drawn in the signet")
	fs.StringVar(&o.reason, "reason", "", "reason of the signature")
	fs.StringVar(&o.location, "location", "", "location of the signature")
	fs.StringVar(&o.name, "name", "", "signer name shown (default: the certificate's common name)")
	fs.StringVar(&o.tsa, "tsa", "", "RFC 3161 timestamp authority URL (PAdES B-T)")
	fs.BoolVar(&o.checkRevocation, "check-revocation", false, "before signing, ask the certificate's OCSP responder or CRL and refuse unless it answers good (the internal CA's list in NATS is read whenever NATS is reachable)")
	fs.StringVar(&o.tz, "tz", "", "IANA time zone of the time on the visible signet, e.g. Europe/Moscow (default: TZ, else UTC; the signature's own time is UTC)")
	fs.StringVar(&o.level, "level", "", "PAdES level: b, t (needs --tsa), lt (adds the chain's OCSP responses or CRLs) or lta (and a document timestamp; needs --tsa); default t with --tsa, else b")
}

// padesLevel checks --level against --tsa.
func (o *signOptions) padesLevel() (pades.Level, error) {
	lvl, err := pades.ParseLevel(o.level)
	if err != nil {
		return "", errorf("cli.sign.level", "--level %[1]q: use b, t, lt or lta", o.level)
	}
	if (lvl == pades.LevelT || lvl == pades.LevelLTA) && o.tsa == "" {
		return "", errorf("cli.sign.levelNeedsTSA", "--level %[1]s needs a timestamp authority: give --tsa URL", string(lvl))
	}
	if lvl == pades.LevelB && o.tsa != "" && o.level != "" {
		return "", errorf("cli.sign.levelB", "--level b and --tsa contradict each other: a timestamp makes it B-T")
	}
	return lvl, nil
}

// signOne signs in to out and, for levels lt and lta, extends out (pades.Extend; no trust anchors
// given: a chain that does not reach the system roots is embedded as the signature carries it).
func signOne(ctx context.Context, in, out string, signer pades.Signer, po pades.Options, lvl pades.Level) (*pades.Result, error) {
	res, err := pades.SignFile(ctx, in, out, signer, po)
	if err != nil || (lvl != pades.LevelLT && lvl != pades.LevelLTA) {
		return res, err
	}
	doc, err := readBounded(out, maxExtendBytes)
	if err != nil {
		return nil, err
	}
	extended, er, err := pades.Extend(ctx, doc, pades.ExtendOptions{Level: lvl, Timestamper: po.TSA})
	if err != nil {
		os.Remove(out) // a half-made B-LT document is not what was asked for
		return nil, wrapf(err, "cli.sign.extendFailed", "%[1]s: signed, but extending it to %[2]s failed (nothing written): %[3]v", filepath.Base(in), string(lvl), err)
	}
	if err := writeFileAtomic(out, extended); err != nil {
		return nil, err
	}
	res.SHA256After = er.SHA256
	return res, nil
}

// padesOptions validates the flags and turns them into the engine's options.
func (o *signOptions) padesOptions(cert *x509.Certificate) (pades.Options, error) {
	po := pades.Options{Visible: o.visible, Reason: o.reason, Location: o.location, Name: o.name, Position: pades.Position(o.position),
		Language: o.lang}
	zone, err := signetZone(o.tz, os.Getenv)
	if err != nil {
		return po, err
	}
	po.Zone = zone
	if po.Name == "" {
		po.Name = cert.Subject.CommonName
	}
	switch o.page {
	case "first", "":
	case "last":
		po.Page = -1
	default:
		n, err := strconv.Atoi(o.page)
		if err != nil || n < 1 {
			return po, errorf("cli.sign.page", "--page %[1]q: use first, last or a page number", o.page)
		}
		po.Page = n
	}
	valid := false
	for _, p := range []pades.Position{pades.TopLeft, pades.TopCenter, pades.TopRight, pades.BottomLeft, pades.BottomCenter, pades.BottomRight} {
		valid = valid || p == po.Position
	}
	if !valid {
		return po, errorf("cli.sign.position", "--position %[1]q: use top-left, top-center, top-right, bottom-left, bottom-center or bottom-right", o.position)
	}
	if o.image != "" {
		b, err := os.ReadFile(o.image)
		if err != nil {
			return po, fmt.Errorf("--image: %w", err)
		}
		po.Image = b
	}
	if o.tsa != "" {
		po.TSA = pades.HTTPTimestamper{URL: o.tsa}
	}
	return po, nil
}

// signetZone is the zone of the signet's time: --tz, else TZ (":Europe/Moscow" and "Europe/Moscow";
// a TZ that names a file or a POSIX rule is not a zone name and gives UTC), else UTC.
func signetZone(flagTZ string, getenv func(string) string) (*time.Location, error) {
	if flagTZ != "" {
		zone, err := i18n.LoadZone(flagTZ)
		if err != nil {
			return nil, fmt.Errorf("--tz: %w", err)
		}
		return zone, nil
	}
	if zone, err := i18n.LoadZone(strings.TrimPrefix(getenv("TZ"), ":")); err == nil {
		return zone, nil
	}
	return time.UTC, nil
}

// openSigner opens the key's token (from the URI's module-path and PIN file, or the configuration: the
// keyring's PIN rule, commandLineTokens)
// and returns the signer with its certificate and chain.
func openSigner(ctx context.Context, o *signOptions, cfgArgs []string, stderr io.Writer) (pades.Signer, func(), error) {
	if o.key == "" {
		return pades.Signer{}, nil, usageError{errorf("cli.sign.keyRequired", "--key URI is required")}
	}
	cfg, _, err := config.Load("sign", cfgArgs, os.Getenv)
	if err != nil {
		return pades.Signer{}, nil, usageError{err}
	}
	if err := commandLineTokens(cfg, o.pinFile, o.key); err != nil {
		return pades.Signer{}, nil, usageError{err}
	}
	log, err := newLogger(cfg.Log.Format, "warn", stderr)
	if err != nil {
		return pades.Signer{}, nil, err
	}
	a := &app{cfg: cfg, log: log}
	k, err := a.openTokens(ctx)
	if err != nil {
		return pades.Signer{}, nil, err
	}
	keyURI := stripURIQuery(o.key)
	cred, err := k.Key(ctx, keyURI)
	if err != nil {
		k.Close()
		return pades.Signer{}, nil, err
	}
	if o.certFile != "" {
		certs, err := certReadPEM(o.certFile)
		if err != nil {
			k.Close()
			return pades.Signer{}, nil, err
		}
		if !publicKeysEqual(certs[0].PublicKey, cred.Key.Public()) {
			k.Close()
			return pades.Signer{}, nil, errorf("cli.sign.certMismatch", "--cert %[1]s is not the certificate of key %[2]s (the public keys differ)", o.certFile, cred.URI)
		}
		cred.Certificate, cred.Chain = certs[0], certs[1:]
	}
	if cred.Certificate == nil {
		k.Close()
		return pades.Signer{}, nil, errorf("cli.sign.noCert", "key %[1]s has no certificate on its token; give one with --cert FILE or import it (signet admin cert import)", cred.URI)
	}
	// Expired or revoked: refused before the key signs, by the workers' rule (sign_revocation.go).
	if err := checkUsable(ctx, cfg, cred, o.checkRevocation, stderr); err != nil {
		k.Close()
		return pades.Signer{}, nil, err
	}
	return pades.Signer{Key: cred.Key, Certificate: cred.Certificate, Chain: cred.Chain}, func() { k.Close() }, nil
}

func publicKeysEqual(a, b any) bool {
	x, err1 := x509.MarshalPKIXPublicKey(a)
	y, err2 := x509.MarshalPKIXPublicKey(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// stripURIQuery drops the query (module-path, pin-source) of a key URI once the token is open.
func stripURIQuery(uri string) string {
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[:i]
	}
	return uri
}

// runSign is `signet sign`: one file (--in/--out) or a folder (--in-dir/--out-dir), outside the queue.
func runSign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sign", `Usage: signet sign --key URI --in IN.pdf --out OUT.pdf [flags]
       signet sign --key URI --in-dir DIR --out-dir DIR [--workers N] [flags]

Signs outside the queue with a key on a PKCS#11 token (PAdES).
`, stderr)
	o := signOptions{lang: i18n.FromEnv(os.Getenv).String()}
	o.register(fs)
	in := fs.String("in", "", "PDF to sign")
	out := fs.String("out", "", "signed PDF to write")
	inDir := fs.String("in-dir", "", "folder of PDFs to sign")
	outDir := fs.String("out-dir", "", "folder for the signed PDFs")
	workers := fs.Int("workers", 8, "documents signed at once (batch form)")
	configFile := fs.String("config", os.Getenv("SIGNET_CONFIG"), "YAML configuration file (tokens)")
	dataDir := fs.String("data-dir", "", "data directory of the demo token (default ./data)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %v", fs.Args())}
	}
	single := *in != "" || *out != ""
	batch := *inDir != "" || *outDir != ""
	if single == batch || (single && (*in == "" || *out == "")) || (batch && (*inDir == "" || *outDir == "")) {
		return usageError{errorf("cli.sign.inOut", "give either --in FILE --out FILE, or --in-dir DIR --out-dir DIR")}
	}
	// The same rule as signing.tsa_url, before the token is opened: the URL is shown in errors, so
	// no credentials in it.
	if err := config.CheckServiceURL(o.tsa); err != nil {
		return usageError{fmt.Errorf("--tsa: %w", err)}
	}
	lvl, err := o.padesLevel()
	if err != nil {
		return usageError{err}
	}
	var cfgArgs []string
	if *configFile != "" {
		cfgArgs = append(cfgArgs, "--config", *configFile)
	}
	if *dataDir != "" {
		cfgArgs = append(cfgArgs, "--data-dir", *dataDir)
	}
	signer, closeFn, err := openSigner(ctx, &o, cfgArgs, stderr)
	if err != nil {
		return err
	}
	defer closeFn()
	po, err := o.padesOptions(signer.Certificate)
	if err != nil {
		return usageError{err}
	}
	if single {
		res, err := signOne(ctx, *in, *out, signer, po, lvl)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tr("cli.sign.signed", "signed %[1]s → %[2]s: field %[3]s, %[4]s, SHA-256 %[5]s", *in, *out, res.FieldName, signer.Certificate.Subject.String(), fmt.Sprintf("%x", res.SHA256After)))
		return nil
	}
	return signDir(ctx, *inDir, *outDir, *workers, signer, po, lvl, stdout, stderr)
}

// batchGCPercent is the garbage collector's target while a folder is signed (see signDir).
const batchGCPercent = 400

// signDir signs every PDF of a folder with a pool of workers sharing the token's sessions, and ends
// with the line `signed=N failed=M docs_per_s=X`.
func signDir(ctx context.Context, inDir, outDir string, workers int, signer pades.Signer, po pades.Options, lvl pades.Level, stdout, stderr io.Writer) error {
	entries, err := os.ReadDir(inDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".pdf") {
			names = append(names, e.Name())
		}
	}
	// A batch allocates about 70 KB per document and keeps almost nothing, so at Go's default
	// (GOGC=100, a collection whenever the heap doubles over a few MB) the collector runs hundreds of
	// times a second; measured here, a fifth of the throughput. A heap 5× the live one costs a few
	// tens of MB. GOGC in the environment still wins.
	_, restoreGC := tuneGC(os.Getenv, batchGCPercent, 0)
	defer restoreGC()
	var signed, failed atomic.Int64
	var mu sync.Mutex
	start := time.Now()
	p := pool.New().WithMaxGoroutines(max(workers, 1))
	for _, name := range names {
		p.Go(func() {
			if _, err := signOne(ctx, filepath.Join(inDir, name), filepath.Join(outDir, name), signer, po, lvl); err != nil {
				failed.Add(1)
				mu.Lock()
				fmt.Fprintf(stderr, "%s: %v\n", name, err)
				mu.Unlock()
				return
			}
			signed.Add(1)
		})
	}
	p.Wait()
	elapsed := time.Since(start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(signed.Load()) / elapsed
	}
	fmt.Fprintf(stdout, "signed=%d failed=%d docs_per_s=%.1f\n", signed.Load(), failed.Load(), rate)
	if failed.Load() > 0 {
		return errorf("cli.sign.someFailed", "%[1]v of %[2]v documents were not signed", failed.Load(), len(names))
	}
	return nil
}
