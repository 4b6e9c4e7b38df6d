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
	"github.com/signet-b24/signet/producer/batch"
)

const batchUsage = `Usage: signet batch <status BATCH-ID [--watch] [--json] | list> [flags]

  status ID   documents signed, failed and pending, the rate and the time left, and every failure
              with its reason (and its DEAD sequence, for ` + "`signet dlq retry SEQ`" + `)
  --watch     redraw every --every (2s) until the batch is finished
  list        every batch, newest first (--json: a JSON array)
`

func runBatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	action, fs, err := actionFlags("batch", batchUsage, args, stdout, stderr)
	if fs == nil {
		return err
	}
	watch := fs.Bool("watch", false, "redraw until the batch is finished")
	every := fs.Duration("every", 2*time.Second, "how often --watch redraws")
	asJSON := fs.Bool("json", false, "print JSON")
	load := settingFlags(fs, natsClientKeys...)
	id, err := parseWithPositional(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	switch {
	case action == "status" && id == "":
		return usageError{errors.New("status needs a BATCH-ID (see `signet batch list`)")}
	case action != "status" && action != "list":
		return usageError{fmt.Errorf("unknown action %q; use status or list", action)}
	}
	_, nc, js, err := loadAndDialNATS(load, "batch")
	if err != nil {
		return err
	}
	defer nc.Close()
	kv, err := js.KeyValue(ctx, batch.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return errors.New("no batch has been enqueued yet (`signet enqueue`)")
	}
	if err != nil {
		return err
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
		fmt.Fprintln(tw, "BATCH\tCREATED\tLOGIN\tDOCUMENTS\tSOURCE")
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
		prev, prevAt = st, time.Now()
		if *asJSON {
			if err := writeJSON(stdout, st); err != nil {
				return err
			}
		} else {
			if *watch {
				fmt.Fprint(stdout, "\033[H\033[2J")
			}
			printBatchStatus(stdout, st, rate)
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

func printBatchStatus(w io.Writer, st *batch.Status, rate float64) {
	fmt.Fprintf(w, "batch %s  (%s, %d documents, from %s, created %s)\n", st.ID, st.Login, st.Total, st.Source, st.Created.Format(time.RFC3339))
	fmt.Fprintf(w, "signed %d  failed %d  pending %d  queued %d/%d\n", st.Signed, st.Failed, st.Pending, st.Published, st.Total)
	switch {
	case st.Done:
		fmt.Fprintf(w, "finished at %s, %.1f docs/s overall\n", st.Last.Format(time.RFC3339), st.Rate)
	case rate > 0:
		fmt.Fprintf(w, "rate %.1f docs/s, about %s left\n", rate, st.ETA(rate).Round(time.Second))
	default:
		fmt.Fprintln(w, "rate: no document finished yet")
	}
	if len(st.Failures) > 0 {
		fmt.Fprintln(w, "\nfailures:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tDOCUMENT\tDEAD\tREASON")
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
