package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/config"
)

const auditUsage = `Usage: signet audit <action> [flags]

Actions:
  verify        walk the hash chains of the AUDIT stream (or --file, a raw export): each writer's chain
                and the checkpoints that tie them; report the first broken link, missing event or
                bad checkpoint signature; exit 1 when the trail is broken
  export        write events as JSON lines, CSV or raw messages: --from, --to, --portal, --user, --format
  show JOB      tell one document's story: every event recorded for the job id (--json: an array)

Every action reads NATS at --nats-url (or the configuration's nats.url, SIGNET_NATS_URL), or the
embedded server of a "signet serve" running on the same data directory.
`

// runAudit is `signet audit …`: the auditor's view of the AUDIT stream.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	action, fs, err := actionFlags("audit", auditUsage, args, stdout, stderr)
	if fs == nil {
		return err
	}
	configFile := fs.String("config", os.Getenv("SIGNET_CONFIG"), "YAML configuration file")
	natsURL := fs.String("nats-url", "", "NATS servers (default: the configuration's nats.url)")
	creds := fs.String("nats-creds-file", "", "NATS credentials file (default: the configuration's nats.creds_file)")
	dataDir := fs.String("data-dir", "", "data directory of a running `signet serve` whose embedded NATS to read (default: the configuration's data_dir)")
	stream := fs.String("stream", contracts.StreamAudit, "the stream to read (a copy of AUDIT, for instance)")
	var (
		keyFile, keyURI, file             *string
		showJSON                          = new(bool)
		from, to, portal, user, format, o *string
	)
	switch action {
	case "verify":
		keyFile = fs.String("key", "", "PEM certificate or public key of the audit service key; checkpoints are checked against it")
		keyURI = fs.String("key-uri", "", "or: the service credential on a configured token, e.g. pkcs11:token=acme;object=signet-audit")
		file = fs.String("file", "", "verify a raw export (`signet audit export --format raw`) instead of the stream")
	case "export":
		from = fs.String("from", "", "first day or instant (2026-11-01 or RFC 3339); default: the beginning")
		to = fs.String("to", "", "last day (inclusive) or instant; default: now")
		portal = fs.String("portal", "", "only this portal (member_id)")
		user = fs.String("user", "", "only this signer or actor: Signet login or Bitrix24 user id")
		format = fs.String("format", "jsonl", "jsonl, csv, or raw (the stored messages, for `audit verify --file`)")
		o = fs.String("out", "", "write to this file instead of standard output")
	case "show":
		showJSON = fs.Bool("json", false, "print the events as a JSON array (the stored fields)")
	default:
		fmt.Fprint(stderr, localUsage("audit", auditUsage))
		return usageError{errorf("cli.unknownAction", "unknown action %[1]q", action)}
	}
	// Flags may come before or after the job id.
	pos, err := parseArgs(fs, args[1:], -1)
	if err != nil {
		return err
	}
	if action == "show" && len(pos) != 1 {
		return usageError{errorf("cli.audit.showNeedsJob", "show takes one job id: signet audit show JOB")}
	}
	if action != "show" && len(pos) > 0 {
		return usageError{fmt.Errorf("unexpected arguments %v", pos)}
	}

	if action == "verify" && *file != "" {
		opts, err := verifyOptions(ctx, *configFile, *keyFile, *keyURI, stderr)
		if err != nil {
			return err
		}
		f, err := os.Open(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		rep, err := audit.VerifyLines(f, opts)
		if err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
		return printReport(stdout, *file, rep, len(opts.Keys) > 0)
	}

	js, closeNATS, err := auditNATS(*configFile, *natsURL, *creds, *dataDir)
	if err != nil {
		return err
	}
	defer closeNATS()
	switch action {
	case "verify":
		opts, err := verifyOptions(ctx, *configFile, *keyFile, *keyURI, stderr)
		if err != nil {
			return err
		}
		rep, err := audit.Verify(ctx, js, *stream, opts)
		if err != nil {
			return err
		}
		return printReport(stdout, *stream, rep, len(opts.Keys) > 0)
	case "export":
		f, err := newExportFilter(*from, *to, *portal, *user, time.Now())
		if err != nil {
			return usageError{err}
		}
		out := stdout
		if *o != "" {
			file, err := os.Create(*o)
			if err != nil {
				return err
			}
			defer file.Close()
			out = file
		}
		if err := exportEvents(ctx, js, *stream, f, *format, out); err != nil {
			return err
		}
		if file, ok := out.(*os.File); ok && *o != "" {
			return file.Close()
		}
		return nil
	default: // show
		return showJob(ctx, js, *stream, pos[0], *showJSON, stdout)
	}
}

// auditNATS connects to the configured NATS (dialNATS: nats.url, or the embedded server of a running
// `signet serve` on the same data directory). The flags override the configuration.
func auditNATS(configFile, url, creds, dataDir string) (jetstream.JetStream, func(), error) {
	var cfgArgs []string
	for flag, v := range map[string]string{"--config": configFile, "--nats-url": url, "--nats-creds-file": creds, "--data-dir": dataDir} {
		if v != "" {
			cfgArgs = append(cfgArgs, flag, v)
		}
	}
	cfg, _, err := config.Load("audit", cfgArgs, os.Getenv)
	if err != nil {
		return nil, nil, usageError{err}
	}
	nc, js, err := dialNATS(cfg)
	if err != nil {
		return nil, nil, err
	}
	return js, nc.Close, nil
}

// verifyOptions reads the trusted service keys: a PEM file, or the certificate of a credential on
// one of the configured tokens (the checkpoints' own key, read where it lives).
func verifyOptions(ctx context.Context, configFile, keyFile, keyURI string, stderr io.Writer) (audit.VerifyOptions, error) {
	var opts audit.VerifyOptions
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return opts, fmt.Errorf("--key: %w", err)
		}
		keys, err := audit.ParseKeys(b)
		if err != nil {
			return opts, fmt.Errorf("--key %s: %w", keyFile, err)
		}
		opts.Keys = append(opts.Keys, keys...)
	}
	if keyURI != "" {
		var cfgArgs []string
		if configFile != "" {
			cfgArgs = []string{"--config", configFile}
		}
		cfg, _, err := config.Load("audit", cfgArgs, os.Getenv)
		if err != nil {
			return opts, usageError{err}
		}
		log, err := newLogger(cfg.Log.Format, "warn", stderr)
		if err != nil {
			return opts, usageError{err}
		}
		a := &app{cfg: cfg, log: log}
		k, err := a.openTokens(ctx)
		if err != nil {
			return opts, err
		}
		defer k.Close()
		cred, err := k.Credential(ctx, keyURI)
		if err != nil {
			return opts, fmt.Errorf("--key-uri: %w", err)
		}
		opts.Keys = append(opts.Keys, cred.Certificate.PublicKey)
	}
	return opts, nil
}

// printReport writes what verify found; a broken chain is an error (exit status 1).
func printReport(w io.Writer, what string, r *audit.Report, keyed bool) error {
	if r.Events == 0 && r.Problem == nil {
		fmt.Fprintln(w, tr("cli.audit.noEvents", "%[1]s: no events", what))
		return nil
	}
	fmt.Fprint(w, tr("cli.audit.events", "%[1]s: %[2]v events (%[3]v to %[4]v), %[5]v checkpoints", what, r.Events, r.FirstSeq, r.LastSeq, r.Checkpoints))
	if keyed {
		fmt.Fprint(w, tr("cli.audit.validCheckpoints", ", %[1]v with a valid signature", r.VerifiedCkpts))
	} else {
		fmt.Fprint(w, tr("cli.audit.noKey", " (signatures not checked: give --key)"))
	}
	fmt.Fprintln(w)
	if r.Chains > 0 {
		// A chain per writer (issue 22): say how many, and how many checkpoints came from processes
		// without the service key (the intake's), which the signed ones cover.
		fmt.Fprintln(w, tr("cli.audit.chains", "%[1]v writer chains, tied by the checkpoints; %[2]v unsigned checkpoints from processes without the service key", r.Chains, r.Ties))
	}
	if p := r.Problem; p != nil {
		detail := tr("cli.audit.problem."+p.Key, p.Format, p.Args...)
		if p.Chain != "" {
			detail = tr("cli.audit.problem.inChain", "chain %[1]s, event %[2]v: ", p.Chain, p.ChainSeq) + detail
		}
		kind := problemKind(p.Kind)
		fmt.Fprintln(w, tr("cli.audit.brokenAt", "BROKEN at event %[1]v: %[2]s: %[3]s", p.Seq, kind, detail))
		return errorf("cli.audit.broken", "the audit chain of %[1]s is broken at event %[2]v (%[3]s)", what, p.Seq, kind)
	}
	head := r.Head
	if head == "" {
		head = audit.EventID(r.LastSeq, r.HeadHash)
	}
	fmt.Fprintln(w, tr("cli.audit.intact", "chain intact; head %[1]s", head))
	if keyed && r.Unsigned > 0 {
		fmt.Fprintln(w, tr("cli.audit.unsigned", "note: %[1]v events are not yet covered by a signed checkpoint; the next checkpoints will cover them", r.Unsigned))
	}
	return nil
}

// problemKind is a ProblemKind in the reader's language.
func problemKind(k audit.ProblemKind) string {
	switch k {
	case audit.Missing:
		return tr("cli.audit.kind.missing", "missing events")
	case audit.OutOfOrder:
		return tr("cli.audit.kind.outOfOrder", "out of order")
	case audit.BrokenLink:
		return tr("cli.audit.kind.brokenLink", "broken link")
	case audit.BadCheckpoint:
		return tr("cli.audit.kind.badCheckpoint", "bad checkpoint")
	case audit.Unreadable:
		return tr("cli.audit.kind.unreadable", "unreadable event")
	}
	return string(k)
}

// exportFilter selects events for export.
type exportFilter struct {
	from, to       time.Time
	portal, login  string
	bitrixUserID   int
	userIsBitrixID bool
}

func newExportFilter(from, to, portal, user string, now time.Time) (*exportFilter, error) {
	f := &exportFilter{portal: portal, to: now}
	var err error
	if from != "" {
		if f.from, err = parseWhen(from, false); err != nil {
			return nil, fmt.Errorf("--from: %w", err)
		}
	}
	if to != "" {
		if f.to, err = parseWhen(to, true); err != nil {
			return nil, fmt.Errorf("--to: %w", err)
		}
	}
	if !f.from.IsZero() && f.to.Before(f.from) {
		return nil, errorf("cli.audit.toBeforeFrom", "--to is before --from")
	}
	if id, err := strconv.Atoi(strings.TrimPrefix(user, "user_")); err == nil && user != "" {
		f.bitrixUserID, f.userIsBitrixID = id, true
	} else {
		f.login = user
	}
	return f, nil
}

// parseWhen reads a day (2026-11-22, UTC; as an end, the whole day) or an RFC 3339 instant.
func parseWhen(s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, errorf("cli.audit.badTime", "%[1]q is neither a day (2026-11-22) nor an RFC 3339 time (2026-11-22T10:00:00Z)", s)
	}
	if end {
		d = d.Add(24*time.Hour - time.Nanosecond)
	}
	return d, nil
}

func (f *exportFilter) keep(e *contracts.AuditEvent) bool {
	switch {
	case e.Time.Before(f.from) || e.Time.After(f.to):
		return false
	case f.portal != "" && e.Portal != f.portal:
		return false
	case f.userIsBitrixID && e.BitrixUserID != f.bitrixUserID:
		return false
	case f.login != "" && e.Login != f.login:
		return false
	}
	return true
}

var csvHeader = []string{"id", "seq", "time", "action", "outcome", "portal", "bitrix_user_id", "login", "job_id", "batch_id",
	"sha256_before", "sha256_after", "credential", "cert_serial", "cert_subject", "reason", "detail", "prev_hash", "hash", "chain"}

func exportEvents(ctx context.Context, js jetstream.JetStream, stream string, f *exportFilter, format string, w io.Writer) error {
	var write func(audit.Raw, *contracts.AuditEvent) error
	var flush func() error
	switch format {
	case "jsonl":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		write = func(_ audit.Raw, e *contracts.AuditEvent) error { return enc.Encode(e) }
	case "raw":
		write = func(r audit.Raw, _ *contracts.AuditEvent) error {
			_, err := fmt.Fprintf(w, "%s\n", r.Data)
			return err
		}
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(csvHeader); err != nil {
			return err
		}
		write = func(_ audit.Raw, e *contracts.AuditEvent) error {
			uid := ""
			if e.BitrixUserID != 0 {
				uid = strconv.Itoa(e.BitrixUserID)
			}
			return cw.Write([]string{e.ID, strconv.FormatUint(e.Seq, 10), e.Time.UTC().Format(time.RFC3339Nano), e.Action, e.Outcome,
				e.Portal, uid, e.Login, e.JobID, e.BatchID, e.SHA256Before, e.SHA256After, e.Credential, e.CertSerial, e.CertSubject,
				e.Reason, e.Detail, e.PrevHash, e.Hash, e.Chain})
		}
		flush = func() error { cw.Flush(); return cw.Error() }
	default:
		return usageError{errorf("cli.audit.format", "--format %[1]q: use jsonl, csv or raw", format)}
	}
	// The stream's own timestamps start the read; events are stamped when appended, so an hour of
	// slack covers writers' clock skew, and the filter then goes by the events' times.
	q := audit.Query{}
	if !f.from.IsZero() {
		q.Since = f.from.Add(-time.Hour)
	}
	err := audit.Scan(ctx, js, stream, q, func(r audit.Raw) error {
		e, err := audit.Decode(r.StreamSeq, r.Data)
		if err != nil {
			return err
		}
		if !f.keep(e) {
			return nil
		}
		return write(r, e)
	})
	if err != nil {
		return err
	}
	if flush != nil {
		return flush()
	}
	return nil
}

// showJob prints one document's story, oldest first.
func showJob(ctx context.Context, js jetstream.JetStream, stream, job string, asJSON bool, w io.Writer) error {
	events, err := audit.Story(ctx, js, stream, job)
	if err != nil {
		return err
	}
	if len(events) == 0 {
		return errorf("cli.audit.noJob", "no audit events for job %[1]q; check the id (it is in the robot's answer and the deal's timeline)", job)
	}
	if asJSON {
		return writeJSON(w, events)
	}
	fmt.Fprint(w, tr("cli.audit.job", "Job %[1]s", job))
	if p := events[0].Portal; p != "" {
		fmt.Fprint(w, tr("cli.audit.portal", ", portal %[1]s", p))
	}
	if b := events[0].BatchID; b != "" {
		fmt.Fprint(w, tr("cli.audit.batch", ", batch %[1]s", b))
	}
	fmt.Fprintln(w)
	for _, e := range events {
		var parts []string
		add := func(format string, a ...any) { parts = append(parts, fmt.Sprintf(format, a...)) }
		if e.Login != "" || e.BitrixUserID != 0 {
			who := e.Login
			if e.BitrixUserID != 0 {
				who = strings.TrimSpace(fmt.Sprintf("%s (user_%d)", e.Login, e.BitrixUserID))
			}
			add("by %s", who)
		}
		if e.Outcome != "" {
			add("%s", e.Outcome)
		}
		if e.Reason != "" {
			add("reason: %s", e.Reason)
		}
		if e.Credential != "" {
			add("credential %s", e.Credential)
		}
		if e.CertSerial != "" {
			add("certificate serial %s", e.CertSerial)
		}
		if e.SHA256Before != "" {
			add("sha256 before %s", e.SHA256Before)
		}
		if e.SHA256After != "" {
			add("after %s", e.SHA256After)
		}
		if e.Detail != "" {
			add("%s", e.Detail)
		}
		fmt.Fprintf(w, "%s  %-18s %s  [event %s]\n", e.Time.UTC().Format("2006-01-02 15:04:05Z"), e.Action, strings.Join(parts, ", "), e.ID)
	}
	return nil
}
