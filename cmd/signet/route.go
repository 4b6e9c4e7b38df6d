package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/producer/requests"
	"github.com/signet-b24/signet/producer/routes"
	"github.com/signet-b24/signet/storage"
)

const routeUsage = `Usage: signet route <start --file ROUTE.json | status ROUTE-ID [--json] | cancel ROUTE-ID [--reason TEXT] | remove-party ROUTE-ID --step STEP --party WHO [--reason TEXT]> [flags]

  start         start a signing route described by a JSON file (docs/routes.md): the portal, the
                originator, the PDF, the steps and their parties; prints the route's id
  status ID     the route's state and each party's: who, when, from where, with what outcome
  cancel ID     end a running route as cancelled by an administrator; its parties' requests leave
                their inboxes
  remove-party ID
                take a party who has not acted out of a running route (--step s2 --party bob: the
                step and the party as status shows them); its request leaves the inbox and the
                step is evaluated again
`

// routeFile is what `signet route start --file` reads. Document is a PDF's path, relative to the
// file.
type routeFile struct {
	Portal      string        `json:"portal"` // member_id of the portal whose users the parties are
	Originator  string        `json:"originator"`
	Title       string        `json:"title"`
	Document    string        `json:"document"`
	Days        int           `json:"days"`
	RemindHours int           `json:"remind_hours"`
	Steps       []routes.Step `json:"steps"`
}

func runRoute(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	action, fs, err := actionFlags("route", routeUsage, args, stdout, stderr)
	if fs == nil {
		return err
	}
	file := fs.String("file", "", "the route's JSON file (start)")
	reason := fs.String("reason", "", "why the route is cancelled or the party removed (cancel, remove-party)")
	stepID := fs.String("step", "", "the step of the party to remove, as status shows it (remove-party)")
	who := fs.String("party", "", "the party to remove: its name or login as status shows it, or its id p1, p2… (remove-party)")
	asJSON := fs.Bool("json", false, "print JSON")
	settings := natsClientKeys
	if action == "start" {
		settings = keys(natsClientKeys, storageKeys, []string{"security.secret_keys_file"})
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
	case action == "start" && *file == "":
		return usageError{errorf("cli.route.needsFile", "start needs --file ROUTE.json (docs/routes.md)")}
	case (action == "status" || action == "cancel" || action == "remove-party") && id == "":
		return usageError{errorf("cli.route.needsID", "%[1]s needs a ROUTE-ID (`signet route start` printed it)", action)}
	case action == "remove-party" && (*stepID == "" || *who == ""):
		return usageError{errorf("cli.route.needsParty", "remove-party needs --step and --party (as `signet route status` shows them)")}
	case action != "start" && action != "status" && action != "cancel" && action != "remove-party":
		return usageError{errorf("cli.route.unknownAction", "unknown action %[1]q; use start, status, cancel or remove-party", action)}
	}
	cfg, nc, js, err := loadAndDialNATS(load, "route")
	if err != nil {
		return err
	}
	defer nc.Close()
	store, err := routes.OpenStore(ctx, js, cfg.NATS.Replicas)
	if err != nil {
		return err
	}
	rs, err := requests.OpenStore(ctx, js, cfg.NATS.Replicas)
	if err != nil {
		return err
	}
	// No notifier here: the parties find their requests in their inbox; the serving intake's sweeper
	// sends the reminders and tells the portal of the route's end.
	e := &routes.Engine{Store: store, JS: js, Requests: &requests.Service{Store: rs}, Audit: audit.NewWriter(js, nil, audit.Options{})}
	switch action {
	case "status":
		r, err := e.Get(ctx, "", id)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, r)
		}
		printRoute(stdout, r)
		return nil
	case "cancel":
		r, err := e.Cancel(ctx, "", "", id, *reason)
		if err != nil {
			return err
		}
		printRoute(stdout, r)
		return nil
	case "remove-party":
		r, err := e.Get(ctx, "", id)
		if err != nil {
			return err
		}
		partyID := ""
		for _, st := range r.Steps {
			for _, p := range st.Parties {
				if st.ID == *stepID && (p.ID == *who || strings.EqualFold(p.Who(), *who)) {
					partyID = p.ID
				}
			}
		}
		if partyID == "" {
			return errorf("cli.route.noSuchParty", "step %[1]s of the route has no party %[2]q; `signet route status` lists them", *stepID, *who)
		}
		if r, err = e.RemoveParty(ctx, "", "", id, *stepID, partyID, *reason); err != nil {
			return err
		}
		printRoute(stdout, r)
		return nil
	}
	users, closeUsers, err := openIdentity(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeUsers()
	docs, err := openStorage(ctx, cfg, storage.Options{PruneInterval: -1}, false)
	if err != nil {
		return err
	}
	defer docs.Close()
	e.Docs, e.Users = docs, users
	return startRoute(ctx, e, *file, stdout)
}

// startRoute reads the route file and its PDF and starts the route.
func startRoute(ctx context.Context, e *routes.Engine, path string, stdout io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var f routeFile
	if err := json.Unmarshal(data, &f); err != nil {
		return wrapf(err, "cli.route.badFile", "%[1]s is not a route file: %[2]v (docs/routes.md)", path, err)
	}
	if f.Portal == "" {
		return errorf("cli.route.noPortal", "%[1]s names no portal: give \"portal\", the member_id whose users sign (they sign in that portal's inbox)", path)
	}
	if f.Document == "" {
		return errorf("cli.route.noDocument", "%[1]s names no document: give \"document\", the PDF's path", path)
	}
	doc := f.Document
	if !filepath.IsAbs(doc) {
		doc = filepath.Join(filepath.Dir(path), doc)
	}
	pdf, err := os.Open(doc)
	if err != nil {
		return err
	}
	defer pdf.Close()
	r := &routes.Route{Portal: contracts.Portal{MemberID: f.Portal}, Originator: f.Originator, Title: f.Title, Steps: f.Steps,
		Document: routes.Document{FileName: filepath.Base(doc)}, RemindAfter: time.Duration(f.RemindHours) * time.Hour}
	if f.Days > 0 {
		r.Deadline = time.Now().UTC().Add(time.Duration(f.Days) * 24 * time.Hour)
	}
	r, err = e.Start(ctx, r, pdf)
	if err != nil {
		return err
	}
	printRoute(stdout, r)
	return nil
}

// printRoute shows a route: its state, then one line per party.
func printRoute(w io.Writer, r *routes.Route) {
	fmt.Fprintln(w, tr("cli.route.head", "Route %[1]s: %[2]s (step %[3]d of %[4]d, %[5]d signatures), deadline %[6]s",
		r.ID, r.State, r.Current+1, len(r.Steps), r.Revision, r.Deadline.UTC().Format(time.RFC3339)))
	if r.Reason != "" {
		fmt.Fprintln(w, tr("cli.route.reason", "Reason: %[1]s", r.Reason))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, tr("cli.route.header", "STEP\tACTION\tPARTY\tSTATE\tWHEN\tFROM\tREASON"))
	for _, st := range r.Steps {
		for _, p := range st.Parties {
			when := ""
			if !p.At.IsZero() {
				when = p.At.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.ID, st.Action, p.Who(), p.State, when, p.From, p.Reason)
		}
	}
	_ = tw.Flush()
}
