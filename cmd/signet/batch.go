package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/producer/batch"
	"github.com/signet-b24/signet/storage"
	"github.com/signet-b24/signet/worker"
)

const batchUsage = `Usage: signet batch <status BATCH-ID [--watch] [--json] | list [--json] | collect BATCH-ID --out DIR> [flags]

  status ID   documents signed, failed and pending, the rate and the time left, and every failure
              with its reason (and its DEAD sequence, for ` + "`signet dlq retry SEQ`" + `); a batch
              with no result for a while is shown as stalled, without a rate or a time left
  --watch     redraw every --every (2s) until the batch is finished
  list        every batch, newest first (--json: a JSON array)
  collect ID  copy the batch's signed PDFs from the storage into --out DIR under their original
              names (never overwriting a file); exit 1 while some are not signed
`

func runBatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	action, fs, err := actionFlags("batch", batchUsage, args, stdout, stderr)
	if fs == nil {
		return err
	}
	watch := fs.Bool("watch", false, "redraw until the batch is finished")
	every := fs.Duration("every", 2*time.Second, "how often --watch redraws")
	asJSON := fs.Bool("json", false, "print JSON")
	outDir := fs.String("out", "", "folder the signed PDFs are written to (collect)")
	settings := natsClientKeys
	if action == "collect" {
		settings = keys(natsClientKeys, storageKeys)
	}
	load := settingFlags(fs, settings...)
	id, err := parseWithPositional(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	switch {
	case (action == "status" || action == "collect") && id == "":
		return usageError{errorf("cli.batch.needsID", "%[1]s needs a BATCH-ID (see `signet batch list`)", action)}
	case action == "collect" && *outDir == "":
		return usageError{errorf("cli.batch.needsOut", "collect needs --out DIR, the folder for the signed PDFs")}
	case action != "status" && action != "list" && action != "collect":
		return usageError{errorf("cli.batch.unknownAction", "unknown action %[1]q; use status, list or collect", action)}
	}
	cfg, nc, js, err := loadAndDialNATS(load, "batch")
	if err != nil {
		return err
	}
	defer nc.Close()
	kv, err := js.KeyValue(ctx, batch.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return errorf("cli.batch.none", "no batch has been enqueued yet (`signet enqueue`)")
	}
	if err != nil {
		return err
	}
	if action == "collect" {
		return collectBatch(ctx, cfg, js, kv, id, *outDir, *asJSON, stdout)
	}
	if action == "list" {
		recs, err := batch.ListRecords(ctx, kv)
		if err != nil {
			return err
		}
		if *asJSON {
			// The record's grant id stays in NATS (never printed whole) and its names are per
			// document: a list shows neither.
			type entry struct {
				ID         string    `json:"id"`
				Created    time.Time `json:"created"`
				Login      string    `json:"login"`
				Credential string    `json:"credential"`
				Total      int       `json:"total"`
				Source     string    `json:"source"`
			}
			out := make([]entry, 0, len(recs))
			for _, r := range recs {
				out = append(out, entry{r.ID, r.Created, r.Login, r.Credential, r.Total, r.Source})
			}
			return writeJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, tr("cli.batch.list.header", "BATCH\tCREATED\tLOGIN\tDOCUMENTS\tSOURCE"))
		for _, r := range recs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", r.ID, r.Created.Format(time.RFC3339), r.Login, r.Total, r.Source)
		}
		return tw.Flush()
	}
	jobs, err := js.KeyValue(ctx, contracts.BucketJobs)
	if err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return err
	}
	var prev *batch.Status
	var prevAt time.Time
	for {
		st, err := batch.ReadStatus(ctx, js, kv, jobs, id)
		if err != nil {
			return err
		}
		// While watching, the rate is over the last interval; otherwise since the batch began.
		rate := st.Rate
		if prev != nil {
			if d := time.Since(prevAt).Seconds(); d > 0 {
				rate = float64(st.Signed+st.Failed-prev.Signed-prev.Failed) / d
			}
		}
		watched := prev != nil
		prev, prevAt = st, time.Now()
		if *asJSON {
			if err := writeJSON(stdout, newBatchStatusJSON(st, time.Now())); err != nil {
				return err
			}
		} else {
			if *watch {
				fmt.Fprint(stdout, "\033[H\033[2J")
			}
			printBatchStatus(stdout, st, rate, watched, time.Now())
		}
		if !*watch || st.Done {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*every):
		}
		if jobs == nil {
			jobs, _ = js.KeyValue(ctx, contracts.BucketJobs)
		}
	}
	if prev != nil && prev.Failed > 0 {
		return exitError{code: 1}
	}
	return nil
}

// stallAfter is how long a batch may go without a result before it is called stalled: at least a
// minute, and ten times the mean interval between its results so far (a slow batch is not stalled).
func stallAfter(st *batch.Status) time.Duration {
	d := time.Minute
	if st.Rate > 0 {
		d = max(d, time.Duration(10/st.Rate*float64(time.Second)))
	}
	return d
}

// stalledSince says whether an unfinished batch has had no result for stallAfter, and since when: a
// rate and a time left computed from its past would then be a promise nothing keeps.
func stalledSince(st *batch.Status, now time.Time) (time.Time, bool) {
	if st.Done {
		return time.Time{}, false
	}
	last := st.Last
	if last.IsZero() {
		last = st.Created
	}
	return last, now.Sub(last) > stallAfter(st)
}

// batchStatusJSON is `signet batch status --json`: the status, whether it is stalled, and the time
// left in seconds only while there is a rate to estimate it from.
type batchStatusJSON struct {
	*batch.Status
	Stalled bool     `json:"stalled"`
	ETA     *float64 `json:"eta_s,omitempty"`
}

func newBatchStatusJSON(st *batch.Status, now time.Time) batchStatusJSON {
	_, stalled := stalledSince(st, now)
	out := batchStatusJSON{Status: st, Stalled: stalled}
	if r := st.Expected(st.Rate); !stalled && !st.Done && r > 0 {
		eta := st.ETA(r).Seconds()
		out.ETA = &eta
	}
	return out
}

// printBatchStatus prints a batch's progress; rate is over the last --watch interval when watched,
// else the batch's overall rate.
func printBatchStatus(w io.Writer, st *batch.Status, rate float64, watched bool, now time.Time) {
	fmt.Fprintln(w, plural("cli.batch.status.head", st.Total, st.ID, st.Login, st.Source, st.Created.Format(time.RFC3339)))
	fmt.Fprintln(w, tr("cli.batch.status.counts", "signed %[1]v  failed %[2]v  pending %[3]v  queued %[4]v/%[5]v", st.Signed, st.Failed, st.Pending, st.Published, st.Total))
	since, stalled := stalledSince(st, now)
	switch {
	case st.Done:
		fmt.Fprintln(w, tr("cli.batch.status.finished", "finished at %[1]s, %[2]s docs/s overall", st.Last.Format(time.RFC3339), fmt.Sprintf("%.1f", st.Rate)))
	case stalled:
		what := tr("cli.batch.status.stalledSince", "no document has finished since %[1]s", since.Format(time.RFC3339))
		if st.Last.IsZero() {
			what = tr("cli.batch.status.stalledNever", "no document has finished since the batch was created")
		}
		fmt.Fprintln(w, tr("cli.batch.status.stalled", "STALLED: %[1]s (%[2]s ago)", what, now.Sub(since).Round(time.Second).String()))
		if st.Published < st.Total {
			fmt.Fprintln(w, plural("cli.batch.status.neverQueued", st.Total-st.Published))
		}
		fmt.Fprintln(w, tr("cli.batch.status.stalledHint", "  are workers running and tokens online? `signet status`; failures waiting in DEAD: `signet dlq list`"))
	case rate > 0:
		fmt.Fprintln(w, tr("cli.batch.status.rate", "rate %[1]s docs/s, about %[2]s left", fmt.Sprintf("%.1f", rate), st.ETA(st.Expected(rate)).Round(time.Second).String()))
	case watched && st.Signed+st.Failed > 0:
		fmt.Fprintln(w, tr("cli.batch.status.noneSinceRefresh", "rate: no document finished since the last refresh"))
	case st.TokenRate > 0:
		fmt.Fprintln(w, tr("cli.batch.status.tokenETA", "rate: no document finished yet; about %[1]s left at the token's rate", st.ETA(st.TokenRate).Round(time.Second).String()))
	default:
		fmt.Fprintln(w, tr("cli.batch.status.noneYet", "rate: no document finished yet"))
	}
	if st.TokenRate > 0 && !st.Done && !stalled {
		// The estimate's other half: what the token itself sustains (issue 21, must 5).
		fmt.Fprintln(w, tr("cli.batch.status.tokenRate", "token %[1]s: %[2]s signatures/s measured by its workers", st.Token, fmt.Sprintf("%.1f", st.TokenRate)))
	}
	if len(st.Failures) > 0 {
		fmt.Fprintln(w, tr("cli.batch.status.failures", "\nfailures:"))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, tr("cli.batch.status.failuresHeader", "#\tDOCUMENT\tDEAD\tREASON"))
		for _, f := range st.Failures {
			dead := "-"
			if f.Dead != 0 {
				dead = fmt.Sprint(f.Dead)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", f.N, orDash(f.Name), dead, oneLine(f.Reason))
		}
		tw.Flush()
	}
}

// collectBatch is `signet batch collect ID --out DIR`.
func collectBatch(ctx context.Context, cfg *config.Config, js jetstream.JetStream, kv jetstream.KeyValue, id, dir string, asJSON bool, stdout io.Writer) error {
	results, err := worker.LookupResults(ctx, js)
	if err != nil {
		return err
	}
	store, err := openStorage(ctx, cfg, storage.Options{PruneInterval: -1}, false) // reads only (issue 21 must 3)
	if err != nil {
		return err
	}
	defer store.Close()
	c, err := batch.Collect(ctx, kv, store, results.Signed, id, dir)
	if c != nil {
		if asJSON {
			type file struct {
				N        int    `json:"n"`
				Name     string `json:"name"`
				Size     int64  `json:"size,omitempty"`
				Existing bool   `json:"existing,omitempty"`
			}
			out := struct {
				BatchID  string `json:"batch_id"`
				Dir      string `json:"dir"`
				Total    int    `json:"total"`
				Written  []file `json:"written"`
				Unsigned []file `json:"unsigned"`
			}{BatchID: c.BatchID, Dir: dir, Total: c.Total, Written: []file{}, Unsigned: []file{}}
			for _, f := range c.Written {
				out.Written = append(out.Written, file{f.N, f.Name, f.Size, f.Existing})
			}
			for _, f := range c.Unsigned {
				out.Unsigned = append(out.Unsigned, file{N: f.N, Name: f.Name})
			}
			if jerr := writeJSON(stdout, out); jerr != nil && err == nil {
				err = jerr
			}
		} else {
			existing := 0
			for _, f := range c.Written {
				if f.Existing {
					existing++
				}
			}
			fmt.Fprintln(stdout, tr("cli.batch.collect.summary", "%[1]v of %[2]v signed PDFs in %[3]s (%[4]v written now, %[5]v already there)", len(c.Written), c.Total, dir, len(c.Written)-existing, existing))
			if len(c.Unsigned) > 0 {
				fmt.Fprintln(stdout, tr("cli.batch.collect.unsigned", "not signed (failed, or still pending: `signet batch status %[1]s`):", c.BatchID))
				for _, f := range c.Unsigned {
					fmt.Fprintf(stdout, "  %d\t%s\n", f.N, f.Name)
				}
			}
		}
	}
	if err != nil {
		return err
	}
	if len(c.Unsigned) > 0 {
		return exitError{code: 1}
	}
	return nil
}
