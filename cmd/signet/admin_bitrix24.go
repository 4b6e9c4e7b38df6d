package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/budget"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/producer"
)

func init() {
	adminCommands["bitrix24"] = command{runAdminBitrix24, "Bitrix24 portals: allow a portal at run time, register the robot and the Sign button, list installed portals, move a renamed portal, end an OVERLOAD pause (add|remove|allowed|register|portals|move|resume)"}
}

const adminBitrix24Usage = `Usage: signet admin bitrix24 <action> [flags]

Actions:
  add DOMAIN
          allow the portal at DOMAIN (acme.bitrix24.ru, or http://host:port for a portal without TLS)
          to install Signet, on every intake at once, without a restart. bitrix24.portals is the
          initial set, added by each intake at start.
  remove DOMAIN
          no longer allow it, and delete the portal installed at DOMAIN with its tokens: its robot
          calls and Sign dialogs are refused from now on. Remove it from bitrix24.portals too, or the
          next intake start allows it again.
  allowed [--json]
          list the allowed portals and the member_id installed at each
  register [--member-id ID] [--auth-user-id N]
          add or update the robot "Sign PDF" (bizproc.robot.list → add or update) and bind the Sign
          button (placement.bind CRM_DEAL_DETAIL_TOOLBAR) on every installed portal, or on --member-id.
          Safe to repeat; run it after an application version update (Bitrix24 may drop robots then).
          Handler URLs are built from public_url, which Bitrix24 must reach.
  portals [--json]
          list the installed portals: member_id, domain, scope, installed
  move --member-id ID --domain NEW
          a renamed portal: its REST endpoint redirects and Signet follows no redirect (tokens stay on
          the registered host). After checking in the portal that it was really renamed, allow NEW
          (add NEW) and run this: the stored domain and endpoint become NEW, then app.info is
          called there with the stored tokens to confirm.
  resume --member-id ID
          end the portal's OVERLOAD_LIMIT pause in every Signet process before bitrix24.overload_pause
          runs out, once Bitrix24 support has lifted the block; waiting callbacks go out at their next
          delivery. If the block is still there, the next call pauses the portal again.

Robots and the Sign button need the Signet application (OAuth); with bitrix24.webhook_url_file
(incoming-webhook mode) they cannot be registered.
`

func runAdminBitrix24(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	action, fs, err := actionFlags("admin bitrix24", adminBitrix24Usage, args, stdout, stderr)
	if fs == nil {
		return err
	}
	memberID := fs.String("member-id", "", "the portal (move, resume; register: only this one)")
	newDomain := fs.String("domain", "", "the portal's new domain (move)")
	asJSON := fs.Bool("json", false, "print JSON (portals, allowed)")
	authUser := fs.Int("auth-user-id", 0, "AUTH_USER_ID of the robot: the Bitrix24 user whose token robot calls carry (default: the installing administrator)")
	load := settingFlags(fs, keys(natsClientKeys, bitrix24Keys, []string{"public_url", "security.secret_keys_file"})...)
	domain, err := parseWithPositional(fs, args[1:])
	if err != nil {
		return usageError{err}
	}
	if (action == "add" || action == "remove") != (domain != "") {
		if domain != "" {
			return usageError{fmt.Errorf("unexpected argument %q", domain)}
		}
		return usageError{fmt.Errorf("%s needs one DOMAIN: signet admin bitrix24 %s acme.bitrix24.ru", action, action)}
	}
	cfg, nc, js, err := loadAndDialNATS(load, "admin bitrix24")
	if err != nil {
		return err
	}
	defer nc.Close()
	// The server's keys, never new ones (they would not decrypt the stored tokens); the bucket is
	// looked up, never created or rescaled (issue 21 must 3).
	keys, err := loadSealer(cfg.Security.SecretKeysFile)
	if err != nil {
		return wrapf(err, "cli.bitrix24.secretKeys", "security.secret_keys_file: %[1]v; point it to the server's file", err)
	}
	reg, err := portals.Lookup(ctx, js, keys)
	if err != nil {
		return wrapf(err, "cli.bitrix24.noBucket", "%[1]v; run `signet setup` or start a server", err)
	}
	list, err := reg.List(ctx)
	if err != nil {
		return fmt.Errorf("listing portals: %w", err)
	}
	// The calls of move and register count against the portal's budget like the servers' do.
	shared, err := openBudget(ctx, cfg, js, zap.NewNop(), false)
	if err != nil {
		return err
	}
	if shared != nil {
		defer shared.Close()
	}
	switch action {
	case "resume":
		if *memberID == "" {
			return usageError{errorf("cli.bitrix24.resumeNeedsID", "resume needs --member-id")}
		}
		if shared == nil {
			return errorf("cli.bitrix24.noBudget", "the Bitrix24 budget bucket does not exist yet: run `signet setup`")
		}
		if err := shared.Resume(ctx, *memberID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\t%s\n", *memberID, tr("cli.bitrix24.resumed", "OVERLOAD pause ended; every Signet process calls the portal again"))
		return nil
	case "add", "remove", "allowed":
		return adminAllowedPortals(ctx, action, domain, *asJSON, reg, audit.NewWriter(js, nil, audit.Options{}), cfg, stdout)
	case "portals":
		if *asJSON {
			type portal struct {
				MemberID  string    `json:"member_id"`
				Domain    string    `json:"domain"`
				Scope     string    `json:"scope"`
				Installed time.Time `json:"installed"`
			}
			out := make([]portal, 0, len(list))
			for _, p := range list {
				out = append(out, portal{p.Auth.MemberID, p.Auth.Domain, p.Auth.Scope, p.Installed})
			}
			return writeJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, tr("cli.bitrix24.portalsHeader", "MEMBER_ID\tDOMAIN\tSCOPE\tINSTALLED"))
		for _, p := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Auth.MemberID, p.Auth.Domain, p.Auth.Scope, p.Installed.Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	case "move":
		if *memberID == "" || *newDomain == "" {
			return usageError{errorf("cli.bitrix24.moveNeeds", "move needs --member-id and --domain")}
		}
		allowed, err := reg.AllowedDomains(ctx)
		if err != nil {
			return err
		}
		origin, ok := producer.PortalOrigin(append(allowed, cfg.Bitrix24.Portals...), *newDomain)
		if !ok {
			return errorf("cli.bitrix24.notAllowed", "%[1]s is not an allowed portal; add it first (`signet admin bitrix24 add %[1]s`: this is the only way a portal's address changes)", *newDomain)
		}
		if err := reg.Move(ctx, *memberID, origin.Scheme, origin.Host); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\t%s\n", *memberID, tr("cli.bitrix24.moved", "moved to %[1]s", origin.String()))
		client, err := newBitrix24Client(cfg, reg, shared, zap.NewNop())
		if err != nil {
			return err
		}
		if err := client.Call(ctx, *memberID, "app.info", nil, nil); err != nil {
			return wrapf(err, "cli.bitrix24.moveCheckFailed", "portal %[1]s moved, but app.info at %[2]s failed: %[3]v; check the domain, or move it back", *memberID, origin.Host, err)
		}
		fmt.Fprintf(stdout, "%s\t%s\n", *memberID, tr("cli.bitrix24.appInfo", "app.info answered at %[1]s", origin.Host))
		return nil
	case "register":
		client, err := newBitrix24Client(cfg, reg, shared, zap.NewNop())
		if err != nil {
			return err
		}
		in := &producer.Intake{Bitrix: client, PublicURL: cfg.PublicURL, RobotCode: cfg.Bitrix24.RobotCode, Log: zap.NewNop()}
		done := 0
		var errs []error
		for _, p := range list {
			if *memberID != "" && p.Auth.MemberID != *memberID {
				continue
			}
			done++
			uid := *authUser
			if uid == 0 {
				uid = p.Auth.UserID
			}
			r, err := in.Register(ctx, p.Auth.MemberID, uid)
			if err != nil {
				errs = append(errs, fmt.Errorf("portal %s (%s): %w", p.Auth.MemberID, p.Auth.Domain, err))
				fmt.Fprintf(stdout, "%s\t%s\t%s\n", p.Auth.MemberID, p.Auth.Domain, tr("cli.bitrix24.failed", "FAILED"))
				continue
			}
			robot, button := tr("cli.bitrix24.robotUpdated", "robot updated"), tr("cli.bitrix24.buttonAlready", "Sign button already bound")
			if r.RobotAdded {
				robot = tr("cli.bitrix24.robotAdded", "robot added")
			}
			if r.PlacementBound {
				button = tr("cli.bitrix24.buttonBound", "Sign button bound")
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s %s, %s\n", p.Auth.MemberID, p.Auth.Domain, robot, cfg.Bitrix24.RobotCode, button)
		}
		if done == 0 {
			if *memberID != "" {
				return errorf("cli.bitrix24.notInstalled", "portal %[1]s has not installed Signet", *memberID)
			}
			return errorf("cli.bitrix24.noneInstalled", "no portal has installed Signet yet: install the application on the portal first")
		}
		return errors.Join(errs...)
	default:
		return usageError{fmt.Errorf("unknown action %q; run `signet admin bitrix24 help`", action)}
	}
}

// newBitrix24Client builds the REST client from the settings: the OAuth app's client secret and, in
// incoming-webhook mode, the webhook URL, each read from its file (secrets are never setting values).
func newBitrix24Client(cfg *config.Config, tokens bitrix24.TokenStore, shared *budget.Shared, log *zap.Logger) (*bitrix24.Client, error) {
	secret := ""
	if cfg.Bitrix24.ClientSecretFile != "" {
		b, err := os.ReadFile(cfg.Bitrix24.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("bitrix24.client_secret_file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	webhook := ""
	if cfg.Bitrix24.WebhookURLFile != "" {
		b, err := os.ReadFile(cfg.Bitrix24.WebhookURLFile)
		if err != nil {
			return nil, fmt.Errorf("bitrix24.webhook_url_file: %w", err)
		}
		webhook = strings.TrimSpace(string(b))
		if u, err := url.Parse(webhook); err != nil || u.Host == "" || !strings.Contains(u.Path, "/rest/") {
			// never quote the value: it is a secret
			return nil, fmt.Errorf("bitrix24.webhook_url_file %s does not hold an incoming-webhook URL https://portal/rest/<user>/<code>/", cfg.Bitrix24.WebhookURLFile)
		}
		log.Warn("incoming-webhook mode: robots and the Sign button cannot be registered; Signet only calls the portal back")
	}
	return bitrix24.NewClient(bitrix24.ClientConfig{
		ClientID: cfg.Bitrix24.ClientID, ClientSecret: secret, OAuthURL: cfg.Bitrix24.OAuthURL,
		UserAgent: "Signet/1.0", RatePerSec: cfg.Bitrix24.RatePerSec, Burst: cfg.Bitrix24.Burst,
		AllowPrivate: cfg.Bitrix24.AllowPrivate, WebhookURL: webhook, Log: log,
		OverloadPause: cfg.Bitrix24.OverloadPause, Budget: budgetOf(shared),
	}, tokens), nil
}

// adminAllowedPortals adds, removes or lists the allowed portals (bitrix24/portals/allowed.go); a
// change is recorded in the audit trail, as the admin API's is.
func adminAllowedPortals(ctx context.Context, action, domain string, asJSON bool, reg *portals.Registry,
	w *audit.Writer, cfg *config.Config, stdout io.Writer) error {
	record := func(detail, member string) {
		if err := w.Record(ctx, contracts.AuditEvent{Action: contracts.AuditAdminChange, Portal: member,
			Outcome: contracts.AuditOK, Detail: "by the command line (signet admin bitrix24): " + detail}); err != nil {
			fmt.Fprintln(stdout, tr("cli.bitrix24.auditWarning", "warning: the audit trail did not record this change: %[1]v", err))
		}
	}
	switch action {
	case "add":
		if err := reg.AllowDomains(ctx, domain); err != nil {
			return err
		}
		n, _ := portals.NormalizeDomain(domain)
		record("portal allowed: "+n, "")
		fmt.Fprintln(stdout, tr("cli.bitrix24.allowedNow", "%[1]s allowed on every intake; install the application on the portal now (handler %[2]s/bitrix24/install)", n, cfg.PublicURL))
	case "remove":
		member, err := reg.RemoveDomain(ctx, domain)
		if err != nil {
			return err
		}
		n, _ := portals.NormalizeDomain(domain)
		record("portal removed: "+n, member)
		if member != "" {
			fmt.Fprintln(stdout, tr("cli.bitrix24.removedPortal", "%[1]s removed; portal %[2]s and its tokens deleted", n, member))
		} else {
			fmt.Fprintln(stdout, tr("cli.bitrix24.removed", "%[1]s removed (it had not installed Signet)", n))
		}
		if _, static := producer.PortalOrigin(cfg.Bitrix24.Portals, portals.DomainHost(n)); static {
			fmt.Fprintln(stdout, tr("cli.bitrix24.stillConfigured", "%[1]s is also in bitrix24.portals: remove it there, or the next intake start allows it again", n))
		}
	case "allowed":
		out, err := reg.AllowedPortals(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, tr("cli.bitrix24.allowedHeader", "DOMAIN\tINSTALLED AS"))
		for _, e := range out {
			fmt.Fprintf(tw, "%s\t%s\n", e.Domain, cmp.Or(e.MemberID, "-"))
		}
		return tw.Flush()
	}
	return nil
}
