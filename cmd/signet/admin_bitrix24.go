package main

import (
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
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/producer"
)

func init() {
	adminCommands["bitrix24"] = command{runAdminBitrix24, "Bitrix24 portals: register the robot and the Sign button, list installed portals, move a renamed portal, end an OVERLOAD pause (register|portals|move|resume)"}
}

const adminBitrix24Usage = `Usage: signet admin bitrix24 <action> [flags]

Actions:
  register [--member-id ID] [--auth-user-id N]
          add or update the robot "Sign PDF" (bizproc.robot.list → add or update) and bind the Sign
          button (placement.bind CRM_DEAL_DETAIL_TOOLBAR) on every installed portal, or on --member-id.
          Safe to repeat; run it after an application version update (Bitrix24 may drop robots then).
          Handler URLs are built from public_url, which Bitrix24 must reach.
  portals [--json]
          list the installed portals: member_id, domain, scope, installed
  move --member-id ID --domain NEW
          a renamed portal: its REST endpoint redirects and Signet follows no redirect (tokens stay on
          the registered host). After checking in the portal that it was really renamed, add NEW to
          bitrix24.portals and run this: the stored domain and endpoint become NEW, then app.info is
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
	asJSON := fs.Bool("json", false, "print JSON (portals)")
	authUser := fs.Int("auth-user-id", 0, "AUTH_USER_ID of the robot: the Bitrix24 user whose token robot calls carry (default: the installing administrator)")
	load := settingFlags(fs, keys(natsClientKeys, bitrix24Keys, []string{"public_url", "security.secret_keys_file"})...)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %v", fs.Args())}
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
		return fmt.Errorf("security.secret_keys_file: %w; point it to the server's file", err)
	}
	reg, err := portals.Lookup(ctx, js, keys)
	if err != nil {
		return fmt.Errorf("%w; run `signet setup` or start a server", err)
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
			return usageError{errors.New("resume needs --member-id")}
		}
		if shared == nil {
			return fmt.Errorf("the Bitrix24 budget bucket does not exist yet: run `signet setup`")
		}
		if err := shared.Resume(ctx, *memberID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\tOVERLOAD pause ended; every Signet process calls the portal again\n", *memberID)
		return nil
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
		fmt.Fprintln(tw, "MEMBER_ID\tDOMAIN\tSCOPE\tINSTALLED")
		for _, p := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Auth.MemberID, p.Auth.Domain, p.Auth.Scope, p.Installed.Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	case "move":
		if *memberID == "" || *newDomain == "" {
			return usageError{errors.New("move needs --member-id and --domain")}
		}
		origin, ok := producer.PortalOrigin(cfg.Bitrix24.Portals, *newDomain)
		if !ok {
			return fmt.Errorf("%s is not in bitrix24.portals; add it there first (this is the only way a portal's address changes)", *newDomain)
		}
		if err := reg.Move(ctx, *memberID, origin.Scheme, origin.Host); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\tmoved to %s\n", *memberID, origin.String())
		client, err := newBitrix24Client(cfg, reg, shared, zap.NewNop())
		if err != nil {
			return err
		}
		if err := client.Call(ctx, *memberID, "app.info", nil, nil); err != nil {
			return fmt.Errorf("portal %s moved, but app.info at %s failed: %w; check the domain, or move it back", *memberID, origin.Host, err)
		}
		fmt.Fprintf(stdout, "%s\tapp.info answered at %s\n", *memberID, origin.Host)
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
				fmt.Fprintf(stdout, "%s\t%s\tFAILED\n", p.Auth.MemberID, p.Auth.Domain)
				continue
			}
			robot, button := "robot updated", "Sign button already bound"
			if r.RobotAdded {
				robot = "robot added"
			}
			if r.PlacementBound {
				button = "Sign button bound"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s %s, %s\n", p.Auth.MemberID, p.Auth.Domain, robot, cfg.Bitrix24.RobotCode, button)
		}
		if done == 0 {
			if *memberID != "" {
				return fmt.Errorf("portal %s has not installed Signet", *memberID)
			}
			return errors.New("no portal has installed Signet yet: install the application on the portal first")
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
