package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/worker"
)

const dlqUsage = `Usage: signet dlq <list|show SEQ|retry SEQ|retry --all|purge> [--json] [--nats-url URL] [--config FILE]

  list         one line per dead message: seq, time, subject, job id, reason (--json: an array)
  show SEQ     the message (document URLs' auth= tokens blanked) and why it died
  retry SEQ    republish the job to its original subject under a new Nats-Msg-Id and delete it
               from DEAD; a sign job whose result is already stored is not signed again
  retry --all  the same for every dead message
  purge        delete every dead message`

// runDLQ inspects and empties the dead-letter stream DEAD.
func runDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprint(stdout, localUsage("dlq", dlqUsage+"\n"))
		if len(args) == 0 {
			return usageError{errorf("cli.dlq.missing", "missing subcommand: list, show, retry or purge")}
		}
		return nil
	}
	sub := args[0]
	fs := newFlagSet("dlq "+sub, dlqUsage+"\n", stderr)
	allFlag := fs.Bool("all", false, "retry every dead message (retry)")
	asJSON := fs.Bool("json", false, "print JSON (list, show)")
	load := settingFlags(fs, natsClientKeys...)
	pos, err := parseArgs(fs, args[1:], -1)
	if err != nil {
		return err
	}
	all := *allFlag
	cfg, err := load("dlq")
	if err != nil {
		return usageError{err}
	}
	seqArg := func() (uint64, error) {
		if len(pos) != 1 {
			return 0, usageError{errorf("cli.dlq.needsSeq", "%[1]s needs one sequence number (see `signet dlq list`)", sub)}
		}
		n, err := strconv.ParseUint(pos[0], 10, 64)
		if err != nil || n == 0 {
			return 0, usageError{errorf("cli.dlq.notSeq", "%[1]q is not a sequence number (see `signet dlq list`)", pos[0])}
		}
		return n, nil
	}
	switch sub {
	case "list", "purge":
		if len(pos) > 0 || all {
			return usageError{errorf("cli.dlq.noArgs", "%[1]s takes no arguments", sub)}
		}
	case "show":
		if all {
			return usageError{errorf("cli.dlq.showAll", "show takes one sequence number, not --all")}
		}
	case "retry":
		if all && len(pos) > 0 {
			return usageError{errorf("cli.dlq.seqOrAll", "give either a sequence number or --all")}
		}
	default:
		return usageError{errorf("cli.dlq.unknown", "unknown subcommand %[1]q; use list, show, retry or purge", sub)}
	}

	// nats.url, or the embedded server of a running `signet serve` on the same data directory.
	nc, js, err := dialNATS(cfg)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	switch sub {
	case "list":
		letters, err := queue.ListDead(ctx, js)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]deadLetter, 0, len(letters))
			for i := range letters {
				out = append(out, newDeadLetter(&letters[i], false))
			}
			return writeJSON(stdout, out)
		}
		for _, l := range letters {
			fmt.Fprintf(stdout, "%d  %s  %s  %s  %s\n", l.Seq, l.Time.UTC().Format(time.RFC3339), l.Subject, orDash(l.JobID), oneLine(l.Reason))
		}
		if len(letters) == 0 {
			fmt.Fprintln(stderr, tr("cli.dlq.empty", "DEAD is empty"))
		}
		return nil
	case "show":
		seq, err := seqArg()
		if err != nil {
			return err
		}
		l, err := queue.GetDead(ctx, js, seq)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, newDeadLetter(l, true))
		}
		fmt.Fprint(stdout, tr("cli.dlq.show", "seq:        %[1]v\ntime:       %[2]s\nsubject:    %[3]s\nstream:     %[4]s (seq %[5]v)\njob:        %[6]s\ndeliveries: %[7]v\nreason:     %[8]s\n\n",
			l.Seq, l.Time.UTC().Format(time.RFC3339), l.Subject, l.Stream, l.OrigSeq, orDash(l.JobID), l.Deliveries, l.Reason))
		fmt.Fprintln(stdout, redact(pretty(l.Data)))
		return nil
	case "retry":
		results, err := worker.LookupResults(ctx, js)
		if err != nil {
			return err
		}
		var letters []queue.Letter
		if all {
			if letters, err = queue.ListDead(ctx, js); err != nil {
				return err
			}
		} else {
			seq, err := seqArg()
			if err != nil {
				return err
			}
			l, err := queue.GetDead(ctx, js, seq)
			if err != nil {
				return err
			}
			letters = append(letters, *l)
		}
		var errs []error
		retried := 0
		for _, l := range letters {
			if l.Stream == contracts.StreamSign && l.JobID != "" {
				done, err := results.Signed(ctx, l.JobID)
				if err != nil {
					errs = append(errs, fmt.Errorf("DEAD message %d: %w", l.Seq, err))
					continue
				}
				if done != nil {
					fmt.Fprintln(stdout, tr("cli.dlq.alreadySigned", "%[1]v  job %[2]s already has a stored result (signed %[3]s); not retried — `signet dlq show %[1]v`, then purge",
						l.Seq, l.JobID, done.SignedAt.UTC().Format(time.RFC3339)))
					continue
				}
			}
			if err := queue.Republish(ctx, js, &l); err != nil {
				errs = append(errs, err)
				continue
			}
			retried++
			fmt.Fprintln(stdout, tr("cli.dlq.republished", "%[1]v  job %[2]s republished to %[3]s", l.Seq, orDash(l.JobID), l.Subject))
		}
		if all {
			fmt.Fprintln(stderr, tr("cli.dlq.retried", "%[1]v of %[2]v dead messages retried", retried, len(letters)))
		}
		return errors.Join(errs...)
	case "purge":
		n, err := queue.PurgeDead(ctx, js)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tr("cli.dlq.purged", "purged %[1]v dead messages", n))
		return nil
	}
	return nil
}

// deadLetter is a DEAD message as --json prints it; the message itself (show only) with document
// URLs' auth= tokens blanked, as in the text form.
type deadLetter struct {
	Seq        uint64          `json:"seq"`
	Time       time.Time       `json:"time"`
	Subject    string          `json:"subject"`
	Stream     string          `json:"stream"`
	StreamSeq  uint64          `json:"stream_seq"`
	JobID      string          `json:"job_id,omitempty"`
	Deliveries uint64          `json:"deliveries"`
	Reason     string          `json:"reason"`
	Message    json.RawMessage `json:"message,omitempty"`
	Text       string          `json:"message_text,omitempty"`
}

func newDeadLetter(l *queue.Letter, withData bool) deadLetter {
	d := deadLetter{Seq: l.Seq, Time: l.Time.UTC(), Subject: l.Subject, Stream: l.Stream, StreamSeq: l.OrigSeq,
		JobID: l.JobID, Deliveries: l.Deliveries, Reason: l.Reason}
	if withData {
		if red := redact(string(l.Data)); json.Valid([]byte(red)) {
			d.Message = json.RawMessage(red)
		} else {
			d.Text = red
		}
	}
	return d
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func pretty(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

// authParam matches the short-lived auth= token of a Bitrix24 download URL (contracts.Document.URL).
var authParam = regexp.MustCompile(`((?:^|[?&])auth=)[^&"\s\\]+`)

func redact(s string) string { return authParam.ReplaceAllString(s, "${1}REDACTED") }
