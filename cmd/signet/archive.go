package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/storage"
	"github.com/signet-b24/signet/worker/archive"
)

const archiveUsage = `Usage: signet archive status [--json] [flags]

  status   every stored signed document, soonest expiry first: what keeps it verifiable (its last
           timestamp's TSA certificate, or its signer's when it has no timestamp), when that
           expires, and whether the archive job renews it on its next run (archive.renew_before,
           archive.schedule; docs/verify.md, "Keeping an archive valid")
`

// runArchive is `signet archive` (issue 17 must 6). It reads the storage only.
func runArchive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	action, fs, err := actionFlags("archive", archiveUsage, args, stdout, stderr)
	if fs == nil {
		return err
	}
	asJSON := fs.Bool("json", false, "print JSON: an array of documents")
	load := settingFlags(fs, keys(storageKeys, []string{"archive.renew_before", "archive.schedule"})...)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if action != "status" {
		return usageError{errorf("cli.archive.unknownAction", "unknown action %[1]q; use status", action)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %v", fs.Args())}
	}
	cfg, err := load("archive")
	if err != nil {
		return usageError{err}
	}
	store, err := openStorage(ctx, cfg, storage.Options{PruneInterval: -1}, false) // reads only
	if err != nil {
		return err
	}
	defer store.Close()
	j := &archive.Job{Store: store, RenewBefore: cfg.Archive.RenewBefore}
	entries, err := j.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		if entries == nil {
			entries = []archive.Entry{}
		}
		return writeJSON(stdout, entries)
	}
	archivePrint(stdout, entries, cfg, time.Now())
	return nil
}

// archivePrint is the text form of `signet archive status`.
func archivePrint(w io.Writer, entries []archive.Entry, cfg *config.Config, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, tr("cli.archive.header", "DOCUMENT\tREV\tEXPIRES\tLEFT\tPROTECTED BY\tRENEWAL"))
	due, broken := 0, 0
	for _, e := range entries {
		if e.Error != "" {
			broken++
			fmt.Fprintf(tw, "%s\t%d\t-\t-\t-\t%s\n", e.Document, e.Revision, tr("cli.archive.unreadable", "unreadable: %[1]s", oneLine(e.Error)))
			continue
		}
		state := tr("cli.archive.notYet", "not yet")
		if e.Due {
			due++
			state = tr("cli.archive.due", "due: %[1]s", e.Reason)
		}
		if e.Unrecorded {
			state += tr("cli.archive.unrecorded", " (last renewal not yet recorded)")
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", e.Document, e.Revision, e.Expires.Format("2006-01-02"), left(e.Expires.Sub(now)), e.What, state)
	}
	tw.Flush()
	schedule := tr("cli.archive.off", "off")
	if cfg.Archive.Schedule > 0 {
		schedule = tr("cli.archive.every", "every %[1]s", cfg.Archive.Schedule.String())
	}
	fmt.Fprintln(w, plural("cli.archive.summary", len(entries), due, broken, cfg.Archive.RenewBefore.String(), schedule))
}

// left says how long is left, in whole days.
func left(d time.Duration) string {
	days := int(d.Hours() / 24)
	switch {
	case d < 0:
		return tr("cli.archive.expiredAgo", "expired %[1]vd ago", -days)
	case days >= 365:
		return tr("cli.archive.yearsDays", "%[1]vy %[2]vd", days/365, days%365)
	}
	return tr("cli.archive.days", "%[1]vd", days)
}
