package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signet-b24/signet/bitrix24/portals"
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
	TokensErr string         `json:"tokens_error,omitempty"`
	Storage   string         `json:"storage"`
	StorageOK bool           `json:"storage_ok"`
	Portals   []statusPortal `json:"portals,omitempty"`
	Problems  []string       `json:"problems,omitempty"`

	// What the text output shows, in the CLI's language; --json stays English (docs/i18n.md).
	shownProblems  []string
	shownTokensErr string
}

// problem lists a problem: in English for --json, in the CLI's language for the text output.
func (r *statusReport) problem(key, en string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(en, args...))
	r.shownProblems = append(r.shownProblems, tr(key, en, args...))
}

// statusToken is ops.Token with the snake_case names every --json output uses.
type statusToken struct {
	Name          string `json:"name"`
	Online        bool   `json:"online"`
	Err           string `json:"error,omitempty"`
	SessionsInUse int    `json:"sessions_in_use"`
	MaxSessions   int    `json:"max_sessions"`
}

type statusPortal struct {
	Domain    string    `json:"domain"`
	MemberID  string    `json:"member_id"`
	Installed time.Time `json:"installed"`
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", `Usage: signet status [--json] [--sample 2s] [flags]

Streams and consumers (pending, ack pending, redelivered, rate, time to drain), DEAD, the tokens, the
storage and the installed portals, on one screen. It only reads: a missing stream, consumer or bucket
is listed as a problem ("run signet setup"), never created.

Exit status: 0 when no problem is listed, 1 when one is (or JetStream cannot be read), 2 on bad usage.
`, stderr)
	asJSON := fs.Bool("json", false, "print JSON (for scripts)")
	sample := fs.Duration("sample", 2*time.Second, "interval over which rates are measured")
	server := fs.String("server", "", "URL of a running Signet worker's metrics listener, whose /metrics gives the token state (default: the worker on this data_dir, else http://<metrics.listen>)")
	load := settingFlags(fs, keys(natsClientKeys, storageKeys, []string{"metrics.listen", "metrics.token_file", "security.secret_keys_file"})...)
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
	if d := snap.Stream("DEAD"); d != nil && d.Msgs > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("DEAD holds %d messages: `signet dlq list`", d.Msgs))
		rep.shownProblems = append(rep.shownProblems, plural("cli.status.dead", int(d.Msgs)))
	}

	base, auth, err := metricsSource(cfg, *server)
	if err != nil {
		rep.TokensErr, rep.shownTokensErr = inEnglish(err), err.Error()
	} else if tokens, err := tokensFromMetrics(ctx, base+"/metrics", auth); err != nil {
		rep.TokensErr, rep.shownTokensErr = inEnglish(err), err.Error()
	} else {
		for _, t := range tokens {
			rep.Tokens = append(rep.Tokens, statusToken(t))
		}
	}
	for _, t := range rep.Tokens {
		if !t.Online {
			rep.problem("cli.status.tokenOffline", "token %[1]s is offline", t.Name)
		}
	}

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
	fmt.Fprintln(w, tr("cli.status.tokens", "\nTokens:"))
	if rep.TokensErr != "" {
		shown := rep.shownTokensErr
		if shown == "" {
			shown = rep.TokensErr
		}
		fmt.Fprintln(w, tr("cli.status.tokensUnknown", "  unknown: %[1]s", shown))
	}
	for _, t := range rep.Tokens {
		state := tr("cli.status.online", "online")
		if !t.Online {
			state = tr("cli.status.offline", "OFFLINE")
		}
		fmt.Fprintf(w, "  %-20s %-8s %s\n", t.Name, state, tr("cli.status.sessions", "sessions %[1]v/%[2]v", t.SessionsInUse, t.MaxSessions))
	}
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

var tokenMetric = regexp.MustCompile(`^(signet_token_online|signet_token_sessions_in_use|signet_token_sessions_max)\{token="([^"]*)"\} (\S+)$`)

// tokensFromMetrics reads the token gauges a worker's monitor exports (worker/monitor.go).
func tokensFromMetrics(ctx context.Context, url, auth string) ([]ops.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, wrapf(err, "cli.status.noServer", "no running Signet at %[1]s (give --server URL of a worker's metrics listener): %[2]v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errorf("cli.status.httpStatus", "%[1]s answered HTTP %[2]v", url, resp.StatusCode)
	}
	byName := map[string]*ops.Token{}
	var order []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		m := tokenMetric.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		t := byName[m[2]]
		if t == nil {
			t = &ops.Token{Name: m[2]}
			byName[m[2]] = t
			order = append(order, m[2])
		}
		v, _ := strconv.ParseFloat(m[3], 64)
		switch m[1] {
		case "signet_token_online":
			t.Online = v == 1
		case "signet_token_sessions_in_use":
			t.SessionsInUse = int(v)
		case "signet_token_sessions_max":
			t.MaxSessions = int(v)
		}
	}
	out := make([]ops.Token, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	if len(out) == 0 {
		return nil, errorf("cli.status.noGauges", "%[1]s exports no token gauges (an intake-only process?)", url)
	}
	return out, sc.Err()
}

// metricsSource says where the token gauges are read: --server, else the metrics listener a worker on
// this data directory wrote down, else metrics.listen; and the bearer token of metrics.token_file.
func metricsSource(cfg *config.Config, server string) (base, auth string, err error) {
	base = strings.TrimRight(server, "/")
	if base == "" {
		if b, err := os.ReadFile(metricsURLFile(cfg)); err == nil {
			base = strings.TrimSpace(string(b))
		} else if cfg.Metrics.Listen != "" {
			base = "http://" + cfg.Metrics.Listen
		} else {
			return "", "", errorf("cli.status.metricsOff", "metrics.listen is off here: give --server URL of a worker's metrics listener")
		}
	}
	if f := cfg.Metrics.TokenFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", "", fmt.Errorf("metrics.token_file: %w", err)
		}
		auth = strings.TrimSpace(string(b))
	}
	return base, auth, nil
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
