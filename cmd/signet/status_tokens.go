package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
)

// tokenRecords reads every worker's token records (contracts.TokenRate, "tok." keys of the jobs
// bucket) — issue 21 must 3: token state comes from the workers through NATS, never from whatever
// answers on some URL's /metrics, so that a status run on any host sees every worker of the cluster.
func tokenRecords(ctx context.Context, kv jetstream.KeyValue, now time.Time) ([]statusToken, error) {
	w, err := kv.WatchFiltered(ctx, []string{contracts.TokenRatePrefix + ">"}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	var out []statusToken
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("the watch of %s ended early", contracts.BucketJobs)
			}
			if e == nil { // every current record delivered
				sort.Slice(out, func(i, j int) bool {
					if out[i].Worker != out[j].Worker {
						return out[i].Worker < out[j].Worker
					}
					return out[i].Name < out[j].Name
				})
				return out, nil
			}
			var tr contracts.TokenRate
			if json.Unmarshal(e.Value(), &tr) != nil {
				continue
			}
			state := tr.State
			if state == "" {
				state = "unknown" // a worker older than the state field: it only measured a rate
			}
			out = append(out, statusToken{Worker: tr.Worker, Name: tr.Token, Label: tr.Label, State: state, Err: tr.Err,
				SessionsInUse: tr.SessionsInUse, MaxSessions: tr.MaxSessions, Rate: tr.Rate, Updated: tr.Updated.UTC(),
				Stale: now.Sub(tr.Updated) > contracts.TokenRateFresh})
		}
	}
}

// tokenProblems counts the workers with a fresh record and lists what is wrong: a token a live
// worker reports offline, fewer live workers than expected. A stale record alone is not a problem (the
// worker it names may have been replaced), but it is named when workers are missing.
func tokenProblems(rep *statusReport, expect int) int {
	live, stale := map[string]bool{}, map[string]bool{}
	for _, t := range rep.Tokens {
		if t.Stale {
			stale[t.Worker] = true
			continue
		}
		live[t.Worker] = true
		if t.State == contracts.TokenOffline {
			if t.Err != "" {
				rep.problem("cli.status.tokenOfflineOnWhy", "token %[1]s is offline on worker %[2]s: %[3]s", t.Name, t.Worker, t.Err)
			} else {
				rep.problem("cli.status.tokenOfflineOn", "token %[1]s is offline on worker %[2]s", t.Name, t.Worker)
			}
		}
	}
	for w := range live {
		delete(stale, w)
	}
	if len(live) < expect {
		switch {
		case len(stale) > 0:
			names := make([]string, 0, len(stale))
			for w := range stale {
				names = append(names, w)
			}
			sort.Strings(names)
			rep.problem("cli.status.workersStale", "%[1]d worker(s) reported their tokens in the last minute, %[2]d expected (--expect-workers); stale records from %[3]s",
				len(live), expect, strings.Join(names, ", "))
		case len(live) == 0:
			rep.problem("cli.status.workersNone", "%[1]d worker(s) reported their tokens in the last minute, %[2]d expected (--expect-workers): start `signet worker` (or `signet serve`)", len(live), expect)
		default:
			rep.problem("cli.status.workersMissing", "%[1]d worker(s) reported their tokens in the last minute, %[2]d expected (--expect-workers)", len(live), expect)
		}
	}
	return len(live)
}

func printTokens(w io.Writer, rep *statusReport) {
	fmt.Fprintln(w, tr("cli.status.tokensHeading", "\nTokens (%[1]d worker(s) reporting):", rep.Workers))
	if len(rep.Tokens) == 0 {
		fmt.Fprintln(w, tr("cli.status.tokensNone", "  none: no worker has written its tokens to NATS"))
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, tr("cli.status.tokensHeader", "  WORKER\tTOKEN\tSTATE\tSESSIONS\tSIGNATURES/s\tREPORTED"))
	for _, t := range rep.Tokens {
		state := t.State
		switch t.State {
		case contracts.TokenOnline:
			state = tr("cli.status.online", "online")
		case contracts.TokenOffline:
			state = tr("cli.status.offline", "OFFLINE")
		}
		if t.Stale {
			state = tr("cli.status.stale", "STALE (%[1]s when last seen)", state)
		}
		age := rep.Time.Sub(t.Updated).Round(time.Second)
		if age < 0 {
			age = 0
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d/%d\t%.1f\t%s\n", t.Worker, t.Name, state, t.SessionsInUse, t.MaxSessions, t.Rate,
			tr("cli.status.ago", "%[1]s ago", age))
	}
	tw.Flush()
	for _, t := range rep.Tokens {
		if t.Err != "" && !t.Stale {
			fmt.Fprintf(w, "  %s (%s): %s\n", t.Name, t.Worker, t.Err)
		}
	}
}
