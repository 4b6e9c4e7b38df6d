package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/ops"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/storage"
)

// statusReport is what `signet status --json` prints.
type statusReport struct {
	Time      time.Time      `json:"time"`
	Streams   []ops.Stream   `json:"streams"`
	Consumers []ops.Consumer `json:"consumers"`
	Tokens    []statusToken  `json:"tokens,omitempty"`
	Workers   int            `json:"workers"`
	Nodes     []statusNode   `json:"nats_nodes,omitempty"`
	Storage   string         `json:"storage"`
	StorageOK bool           `json:"storage_ok"`
	Portals   []statusPortal `json:"portals,omitempty"`
	Problems  []string       `json:"problems,omitempty"`

	// What the text output shows, in the CLI's language; --json stays English (docs/i18n.md).
	shownProblems []string
}

// problem lists a problem: in English for --json, in the CLI's language for the text output.
func (r *statusReport) problem(key, en string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(en, args...))
	r.shownProblems = append(r.shownProblems, tr(key, en, args...))
}

// statusToken is one worker's record of one token (contracts.TokenRate), as that worker last wrote
// it to the jobs bucket; Stale when it is older than contracts.TokenRateFresh (the worker was killed
// or lost NATS: a worker that stops cleanly deletes its records).
type statusToken struct {
	Worker        string    `json:"worker"`
	Name          string    `json:"name"`
	Label         string    `json:"label,omitempty"`
	State         string    `json:"state"`
	Err           string    `json:"error,omitempty"`
	SessionsInUse int       `json:"sessions_in_use"`
	MaxSessions   int       `json:"max_sessions"`
	Rate          float64   `json:"signatures_per_s"`
	Updated       time.Time `json:"updated"`
	Stale         bool      `json:"stale"`
}

type statusPortal struct {
	Domain    string    `json:"domain"`
	MemberID  string    `json:"member_id"`
	Installed time.Time `json:"installed"`
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", `Usage: signet status [--json] [--sample 2s] [flags]

Streams and consumers (pending, ack pending, redelivered, rate, time to drain), DEAD, the tokens of
every worker, the storage and the installed portals, on one screen. It only reads: a missing stream,
consumer or bucket is listed as a problem ("run signet setup"), never created.

The tokens are what each worker writes to NATS every 10 s (online, sessions, measured rate); a record
older than a minute is shown as STALE (that worker was killed or lost NATS; one that stops cleanly
removes its records). Nothing is read over HTTP, so the command works from any host that reaches NATS.

Exit status: 0 when no problem is listed, 1 when one is (or JetStream cannot be read), 2 on bad usage.
`, stderr)
	asJSON := fs.Bool("json", false, "print JSON (for scripts)")
	sample := fs.Duration("sample", 2*time.Second, "interval over which rates are measured")
	expect := fs.Int("expect-workers", 1, "how many workers must have reported their tokens within the last minute; fewer is a problem (0: none required)")
	load := settingFlags(fs, keys(natsClientKeys, storageKeys, []string{"security.secret_keys_file"})...)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %v", fs.Args())}
	}
	cfg, nc, js, err := loadAndDialNATS(load, "status")
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second+*sample)
	defer cancel()

	first, err := ops.Take(ctx, js)
	if err != nil {
		return fmt.Errorf("reading JetStream: %w", err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(*sample):
	}
	snap, err := ops.Take(ctx, js)
	if err != nil {
		return fmt.Errorf("reading JetStream: %w", err)
	}
	snap.WithRates(first)
	rep := statusReport{Time: snap.Time.UTC(), Streams: snap.Streams, Consumers: snap.Consumers}
	// Looked up, never created (issue 21 must 3): a status run with another configuration than the
	// cluster's must not rescale or reconfigure it.
	missing, err := queue.Missing(ctx, js)
	if err != nil {
		return fmt.Errorf("reading JetStream: %w", err)
	}
	buckets, err := missingBuckets(ctx, js)
	if err != nil {
		return fmt.Errorf("reading JetStream: %w", err)
	}
	missing = append(missing, buckets...)
	for _, m := range missing {
		rep.problem("cli.status.missing", "%[1]s is missing: run `signet setup` or start a server", m)
	}
	var replicated []string
	for _, s := range rep.Streams {
		replicated = append(replicated, s.Name)
	}
	for _, b := range setupBuckets {
		replicated = append(replicated, "KV_"+b)
	}
	rep.Nodes = clusterView(ctx, js, replicated, &rep)
	if d := snap.Stream("DEAD"); d != nil && d.Msgs > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("DEAD holds %d messages: `signet dlq list`", d.Msgs))
		rep.shownProblems = append(rep.shownProblems, plural("cli.status.dead", int(d.Msgs)))
	}

	if kv, err := js.KeyValue(ctx, contracts.BucketJobs); err == nil { // missing: listed above
		tokens, err := tokenRecords(ctx, kv, time.Now())
		if err != nil {
			return fmt.Errorf("reading the workers' token records: %w", err)
		}
		rep.Tokens = tokens
	}
	rep.Workers = tokenProblems(&rep, *expect)

	rep.Storage = redactURL(cfg.Storage.URL)
	storageProblem := func(err error) {
		rep.problem("cli.status.storage", "storage: %[1]s", strings.TrimPrefix(err.Error(), "storage: "))
	}
	if st, err := openStorage(ctx, cfg, storage.Options{PruneInterval: -1}, false); err != nil {
		storageProblem(err)
	} else {
		if err := st.Ping(ctx); err != nil {
			storageProblem(err)
		} else {
			rep.StorageOK = true
		}
		st.Close()
	}
	if keys, err := loadKeysIfPresent(cfg); err == nil && keys != nil {
		// A missing bucket is already listed above.
		if reg, err := portals.Lookup(ctx, js, keys); err == nil {
			if list, err := reg.List(ctx); err == nil {
				for _, p := range list {
					rep.Portals = append(rep.Portals, statusPortal{Domain: p.Auth.Domain, MemberID: p.Auth.MemberID, Installed: p.Installed})
				}
			}
		}
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printStatus(stdout, &rep)
	}
	if len(rep.Problems) > 0 {
		// Exit codes (docs/operations.md, "signet status"): 0 nothing wrong, 1 a problem listed or
		// the cluster unreadable, 2 bad usage. A listed problem is already on stdout.
		return exitError{code: 1}
	}
	return nil
}

func printStatus(w io.Writer, rep *statusReport) {
	fmt.Fprintf(w, "%s\n\n", tr("cli.status.title", "Signet status at %[1]s UTC", rep.Time.Format("2006-01-02 15:04:05")))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, tr("cli.status.consumersHeader", "STREAM/CONSUMER\tPENDING\tACK PENDING\tREDELIVERED\tRATE/s\tDRAIN IN\t"))
	for _, c := range rep.Consumers {
		drain := "-"
		switch {
		case c.Drain > 0:
			drain = c.Drain.Round(time.Second).String()
		case c.NumPending == 0 && c.NumAckPending == 0:
			drain = tr("cli.status.drainEmpty", "empty")
		case c.Rate == 0:
			drain = tr("cli.status.drainStalled", "stalled?")
		}
		fmt.Fprintf(tw, "%s/%s\t%d\t%d\t%d\t%.1f\t%s\t\n", c.Stream, c.Name, c.NumPending, c.NumAckPending, c.NumRedelivered, c.Rate, drain)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, tr("cli.status.streamsHeader", "STREAM\tMESSAGES\tBYTES\t"))
	for _, s := range rep.Streams {
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", s.Name, s.Msgs, s.Bytes)
	}
	tw.Flush()
	printNodes(w, rep.Nodes)
	printTokens(w, rep)
	ok := tr("cli.status.reachable", "reachable")
	if !rep.StorageOK {
		ok = tr("cli.status.unreachable", "NOT reachable")
	}
	fmt.Fprintln(w, tr("cli.status.storageLine", "\nStorage: %[1]s (%[2]s)", rep.Storage, ok))
	fmt.Fprintln(w, tr("cli.status.portals", "\nPortals:"))
	if len(rep.Portals) == 0 {
		fmt.Fprintln(w, tr("cli.status.noPortals", "  none installed (or security.secret_keys_file not readable here)"))
	}
	for _, p := range rep.Portals {
		fmt.Fprintf(w, "  %-30s %s  %s\n", p.Domain, p.MemberID, tr("cli.status.installed", "installed %[1]s", p.Installed.UTC().Format("2006-01-02")))
	}
	shown := rep.shownProblems
	if len(shown) != len(rep.Problems) {
		shown = rep.Problems
	}
	if len(shown) > 0 {
		fmt.Fprintln(w, tr("cli.status.problems", "\nProblems:"))
		for _, p := range shown {
			fmt.Fprintln(w, "  - "+p)
		}
	}
}

var userinfo = regexp.MustCompile(`//[^/@]*@`)

func redactURL(u string) string { return userinfo.ReplaceAllString(u, "//") }

// loadKeysIfPresent loads the secret keys (to read the portal registry) when this machine has them.
func loadKeysIfPresent(cfg *config.Config) (portals.Sealer, error) {
	if _, err := os.Stat(cfg.Security.SecretKeysFile); err != nil {
		return nil, nil
	}
	return loadSealer(cfg.Security.SecretKeysFile)
}

func loadSealer(path string) (portals.Sealer, error) {
	k, err := identity.LoadKeys(path)
	if err != nil {
		return nil, err
	}
	return k, nil
}
