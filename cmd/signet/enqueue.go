package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/jobkey"
	"github.com/signet-b24/signet/producer/batch"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/storage"
)

const enqueueUsage = `Usage: signet enqueue MANIFEST|FOLDER --login LOGIN [--credential URI] [flags]

Queues a batch of PDFs for signing under one batch grant: the signer's OTP is asked once (from the
terminal, or one line on standard input; --otp CODE for scripts — a code is single-use and dead within
a minute, so shell history does not matter). Local files are uploaded to the artefact storage, so
workers on other machines can read them.

MANIFEST is CSV (a header line, then one row per document) or JSON lines (one object per line), with
the columns / keys:
  path            a local PDF (relative to the manifest)            ┐
  key             an object already under incoming/ in the storage  ├ exactly one source
  portal          member_id of an installed portal, with            │
  disk_file_id    a Disk file id (its signed version replaces it)   │
  url             or a file URL on that portal                      ┘
  deal | entity_type_id, entity_id   the CRM item whose timeline records the signature
  file_name, visible (Y/N), page (first|last), position (top-left … bottom-right), reason, location
A FOLDER means every *.pdf in it; once signed, ` + "`signet batch collect BATCH-ID --out DIR`" + ` copies the
signed PDFs from the storage into DIR under their original names. A signer whose OTP an administrator
switched off is asked no code.

Running the same command again after a crash or Ctrl-C resumes: nothing is queued twice.
Then: signet batch status BATCH-ID [--watch]
`

func runEnqueue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("enqueue", enqueueUsage, stderr)
	login := fs.String("login", "", "the signer's Signet login (required)")
	credential := fs.String("credential", "", "PKCS#11 URI of the signing key (default: the signer's default credential)")
	otp := fs.String("otp", "", "the signer's one-time password (default: asked on the terminal, or read from standard input)")
	ttl := fs.Duration("grant-ttl", 0, "validity of the batch grant (default 12h, at most 7 days)")
	visible := fs.Bool("visible", false, "draw a visible signet (default for rows that do not say)")
	page := fs.String("page", "last", "first or last: where the signet goes")
	position := fs.String("position", "bottom-right", "top-left, top-center, top-right, bottom-left, bottom-center or bottom-right")
	reason := fs.String("reason", "", "the signatures' reason")
	progress := fs.String("progress", "auto", "auto (a bar on a terminal, lines otherwise), bar, lines or none")
	load := settingFlags(fs, keys(natsClientKeys, storageKeys, []string{"security.secret_keys_file", "security.job_signing_key_file", "security.job_ttl"})...)
	src, err := parseWithPositional(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if src == "" || *login == "" {
		fs.Usage()
		return usageError{errorf("cli.enqueue.required", "a manifest or folder and --login are required")}
	}
	cfg, err := load("enqueue")
	if err != nil {
		return usageError{err}
	}
	m, err := readSource(src)
	if err != nil {
		return err
	}

	idsvc, closeID, err := openIdentity(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeID()
	u, err := idsvc.GetUser(ctx, *login)
	if err != nil {
		return err
	}
	if *credential == "" {
		if u.DefaultCredential == "" {
			return usageError{errorf("cli.enqueue.noCredential", "%[1]q has no default credential; give --credential URI", *login)}
		}
		*credential = u.DefaultCredential
	}
	nc, js, err := dialNATS(cfg)
	if err != nil {
		return err
	}
	defer nc.Close()
	// The servers' storage, used as it is: no bucket or lifecycle rule set from this command's
	// configuration (issue 21 must 3).
	store, err := openStorage(ctx, cfg, storage.Options{PruneInterval: -1}, false)
	if err != nil {
		return err
	}
	defer store.Close()
	// Created when missing, never rescaled from here: that is `signet setup`'s (issue 21 must 3).
	kv, err := js.KeyValue(ctx, batch.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = batch.OpenBucket(ctx, js, cfg.NATS.Replicas, cfg.Storage.Retention)
	}
	if err != nil {
		return err
	}

	// The intake's key: workers refuse jobs not signed by it. Never created here (no worker trusts a
	// new key).
	jobKey, err := jobkey.LoadSigner(cfg.Security.JobSigningKeyFile, cfg.Security.JobTTL)
	if err != nil {
		return wrapf(err, "cli.enqueue.jobKey", "%[1]v; `signet enqueue` runs where the intake's signing key is", err)
	}
	bar := newProgressPrinter(stderr, *progress)
	enq := &batch.Enqueuer{JS: js, KV: kv, Store: store, Identity: idsvc, JobKey: jobKey}
	sum, err := enq.Enqueue(ctx, batch.Request{
		Login: *login, Credential: *credential, Manifest: m, GrantTTL: *ttl,
		Stamp:    contracts.Stamp{Visible: *visible, Page: *page, Position: *position, Reason: *reason},
		Language: i18n.FromEnv(os.Getenv).String(), TimeZone: cfg.Signing.TimeZone,
		OTP: func() (string, error) {
			if *otp != "" {
				return *otp, nil
			}
			if u.OTPDisabled {
				// An administrator switched this signer's OTP off: the grant needs no code, so none is
				// asked (identity.Authorize passes such a user as "otp-not-required").
				return "", nil
			}
			return readOTP(stderr, *login)
		},
		Progress: bar.update,
	})
	bar.done()
	if err != nil {
		if errors.Is(err, identity.ErrGrantExhausted) {
			return wrapf(err, "cli.enqueue.grantExhausted", "%[1]v\n(run the same command again: it asks for a new OTP for the documents left)", err)
		}
		return err
	}
	queued := sum.Published - sum.Resumed - sum.Duplicate
	fmt.Fprintf(stdout, "batch=%s documents=%d queued=%d already_queued=%d uploaded_bytes=%d grant_used=%d/%d elapsed=%s\n",
		sum.BatchID, sum.Total, queued, sum.Resumed+sum.Duplicate, sum.Uploaded, sum.GrantUsed, sum.GrantMax, sum.Elapsed.Round(time.Millisecond))
	fmt.Fprintln(stdout, tr("cli.enqueue.follow", "follow it with: signet batch status %[1]s --watch", sum.BatchID))
	if m.Source != "" && isDir(src) {
		// A folder's documents are signed into the artefact storage, named by job; collect puts them
		// back under their own names.
		pdf, _, _ := storage.ArtefactKeys("local", time.Now(), "batch-"+sum.BatchID, sum.BatchID+".N")
		fmt.Fprintln(stdout, tr("cli.enqueue.stored", "signed PDFs are stored in %[1]s under %[2]s/, named by job (%[3]s.N.pdf);", redactURL(cfg.Storage.URL), path.Dir(pdf), sum.BatchID))
		fmt.Fprintln(stdout, tr("cli.enqueue.collect", "copy them under their original names with: signet batch collect %[1]s --out %[2]s", sum.BatchID, collectDir(src)))
	}
	return nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// collectDir suggests where `signet batch collect` puts a folder's signed PDFs: a sibling folder
// named after it (inside it, a second enqueue of the folder would not see them, but people would).
func collectDir(src string) string {
	return filepath.Clean(src) + "-signed"
}

func readSource(src string) (*batch.Manifest, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return batch.ReadFolder(src)
	}
	return batch.ReadManifest(src)
}

// readOTP asks for the code without echo on a terminal, or reads one line from standard input (for
// `echo 123456 | signet enqueue …`). The code is never printed.
func readOTP(stderr io.Writer, login string) (string, error) {
	fd := int(os.Stdin.Fd())
	if term.IsTerminal(fd) {
		fmt.Fprint(stderr, tr("cli.enqueue.otpPrompt", "One-time password of %[1]s: ", login))
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", wrapf(err, "cli.enqueue.otpRead", "reading the OTP: %[1]v", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", wrapf(err, "cli.enqueue.otpStdin", "reading the OTP from standard input: %[1]v", err)
	}
	if strings.TrimSpace(line) == "" {
		return "", errorf("cli.enqueue.noOTP", "no OTP: type it on a terminal, pipe it on standard input, or give --otp")
	}
	return strings.TrimSpace(line), nil
}

// progressPrinter draws a bar on a terminal and plain lines (every 10 % or 5 s) otherwise.
type progressPrinter struct {
	w        io.Writer
	mode     string
	last     time.Time
	lastPct  int
	shown    bool
	start    time.Time
	lastSeen batch.Progress
}

func newProgressPrinter(w io.Writer, mode string) *progressPrinter {
	if mode == "auto" {
		mode = "lines"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	return &progressPrinter{w: w, mode: mode, start: time.Now(), lastPct: -1}
}

func (p *progressPrinter) update(pr batch.Progress) {
	p.lastSeen = pr
	if pr.Total == 0 || p.mode == "none" {
		return
	}
	pct := pr.Published * 100 / pr.Total
	switch p.mode {
	case "bar":
		if time.Since(p.last) < 100*time.Millisecond && pr.Published < pr.Total {
			return
		}
		const width = 30
		fill := pr.Published * width / pr.Total
		rate := float64(pr.Published-pr.Resumed) / max(time.Since(p.start).Seconds(), 0.001)
		fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d %3d%% %.0f docs/s ", pr.BatchID, strings.Repeat("█", fill), strings.Repeat("·", width-fill),
			pr.Published, pr.Total, pct, rate)
		p.shown = true
	default:
		if pct/10 == p.lastPct/10 && time.Since(p.last) < 5*time.Second && pr.Published < pr.Total {
			return
		}
		p.lastPct = pct
		fmt.Fprintln(p.w, tr("cli.enqueue.progress", "batch %[1]s: queued %[2]v of %[3]v (%[4]v%%)", pr.BatchID, pr.Published, pr.Total, pct))
	}
	p.last = time.Now()
}

func (p *progressPrinter) done() {
	if p.shown {
		fmt.Fprintln(p.w)
	}
}
