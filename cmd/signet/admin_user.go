package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/producer/identity"
)

func init() {
	adminCommands["user"] = command{runAdminUser, "users, their OTP and enrolment links (add|list|show|disable|enable|otp-disable|otp-enable|delete|enrol)"}
}

const adminUserUsage = `Usage: signet admin user <action> [LOGIN] [flags]

Actions (--json prints JSON instead of text):
  add LOGIN [--description TEXT] [--bitrix MEMBER_ID:USER_ID]… [--otp-disabled]
  list
  show LOGIN
  disable LOGIN | enable LOGIN          a disabled user cannot sign
  otp-disable LOGIN | otp-enable LOGIN  sign without / with a one-time password
  delete LOGIN
  enrol LOGIN                           print an OTP enrolment link, valid one hour, usable once
  map LOGIN --credential URI [--default]  let the user sign with a credential (PKCS#11 URI)
  unmap LOGIN --credential URI

The commands talk to the same NATS as the server (nats.url, or the embedded server of a running
` + "`signet serve`" + ` on the same data directory) and use its security.secret_keys_file.
`

// bitrixFlag collects --bitrix MEMBER_ID:USER_ID.
type bitrixFlag map[string]int

func (b bitrixFlag) String() string { return fmt.Sprint(map[string]int(b)) }
func (b bitrixFlag) Set(v string) error {
	member, id, ok := strings.Cut(v, ":")
	n, err := strconv.Atoi(id)
	if !ok || member == "" || err != nil || n <= 0 {
		return errorf("cli.user.bitrixID", "%[1]q: want MEMBER_ID:USER_ID, e.g. 3d906b2a32030386ccc7274d2313a01b:7", v)
	}
	b[member] = n
	return nil
}

func runAdminUser(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	action, fs, err := actionFlags("admin user", adminUserUsage, args, stdout, stderr)
	if fs == nil {
		return err
	}
	description := fs.String("description", "", "what the user is for (add)")
	otpOff := fs.Bool("otp-disabled", false, "the user signs without a one-time password (add)")
	credential := fs.String("credential", "", "PKCS#11 URI of a credential (map, unmap; add: mapped and made the default)")
	makeDefault := fs.Bool("default", false, "make the credential the user's default (map)")
	asJSON := fs.Bool("json", false, "print JSON (list, show and the actions that print the user)")
	bitrix := bitrixFlag{}
	fs.Var(bitrix, "bitrix", "MEMBER_ID:USER_ID of the user on a portal; repeat for several portals (add)")
	// The server's settings (--data-dir, --nats-url, …) are accepted too, so the command finds its NATS.
	load := settingFlags(fs, keys(natsClientKeys, []string{"public_url", "security.secret_keys_file"})...)
	login, err := parseWithPositional(fs, args[1:])
	if err != nil {
		return usageError{err}
	}
	cfg, err := load("admin user")
	if err != nil {
		return usageError{err}
	}
	if action != "list" && login == "" {
		return usageError{errorf("cli.user.needsLogin", "%[1]s needs a LOGIN", action)}
	}
	svc, closeFn, err := openIdentity(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeFn()

	if action != "list" && action != "show" && action != "enrol" { // enrolments are recorded by the service
		defer func() {
			if err == nil {
				svc.RecordAdminChange(ctx, login, *credential, "signet admin user "+action+" (command line)")
			}
		}()
	}
	switch action {
	case "add":
		if err := svc.AddUser(ctx, identity.User{Login: login, Description: *description, BitrixIDs: bitrix, OTPDisabled: *otpOff}); err != nil {
			return err
		}
		if *credential != "" {
			if _, err := svc.MapCredential(ctx, login, *credential, true); err != nil {
				return err
			}
		}
		u, err := svc.GetUser(ctx, login)
		if err != nil {
			return err
		}
		printUser(stdout, u, *asJSON)
	case "list":
		users, err := svc.ListUsers(ctx)
		if err != nil {
			return err
		}
		sort.Slice(users, func(i, j int) bool { return users[i].Login < users[j].Login })
		if *asJSON {
			out := make([]userJSON, len(users))
			for i := range users {
				out[i] = newUserJSON(&users[i])
			}
			return writeJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, tr("cli.user.listHeader", "LOGIN\tOTP\tSTATE\tBITRIX24\tDESCRIPTION"))
		for i := range users {
			u := &users[i]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Login, otpState(u), userState(u), bitrixIDs(u), u.Description)
		}
		return tw.Flush()
	case "show":
		u, err := svc.GetUser(ctx, login)
		if err != nil {
			return err
		}
		printUser(stdout, u, *asJSON)
	case "disable", "enable":
		u, err := svc.SetDisabled(ctx, login, action == "disable")
		if err != nil {
			return err
		}
		printUser(stdout, u, *asJSON)
	case "otp-disable", "otp-enable":
		u, err := svc.SetOTPDisabled(ctx, login, action == "otp-disable")
		if err != nil {
			return err
		}
		printUser(stdout, u, *asJSON)
	case "delete":
		if err := svc.DeleteUser(ctx, login); err != nil {
			return err
		}
		fmt.Fprintln(stdout, tr("cli.user.deleted", "deleted %[1]s", login))
	case "enrol":
		link, expires, err := svc.StartEnrolment(ctx, login)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, link)
		fmt.Fprintln(stdout, tr("cli.user.enrolLink", "valid until %[1]s (one hour), usable once; give it to %[2]s only", expires.UTC().Format(time.RFC3339), login))
	case "map", "unmap":
		if *credential == "" {
			return usageError{errorf("cli.user.needsCredential", "%[1]s needs --credential URI", action)}
		}
		var u *identity.User
		if action == "map" {
			u, err = svc.MapCredential(ctx, login, *credential, *makeDefault)
		} else {
			u, err = svc.UnmapCredential(ctx, login, *credential)
		}
		if err != nil {
			return err
		}
		printUser(stdout, u, *asJSON)
	default:
		return usageError{errorf("cli.user.unknownAction", "unknown action %[1]q; run `signet admin user help`", action)}
	}
	return nil
}

// openIdentity opens the identity service with the server's secret keys; it never creates keys, since
// new keys would not decrypt what the server stored.
func openIdentity(ctx context.Context, cfg *config.Config) (*identity.Service, func(), error) {
	if _, err := os.Stat(cfg.Security.SecretKeysFile); err != nil {
		return nil, nil, wrapf(err, "cli.user.secretKeys", "security.secret_keys_file %[1]s: %[2]v; start `signet serve` once (it creates it) or point to the server's file", cfg.Security.SecretKeysFile, err)
	}
	keys, err := identity.LoadKeys(cfg.Security.SecretKeysFile)
	if err != nil {
		return nil, nil, err
	}
	nc, js, err := dialNATS(cfg)
	if err != nil {
		return nil, nil, err
	}
	// No service key here: the workers' checkpoints cover these events too (one chain).
	w := audit.NewWriter(js, nil, audit.Options{})
	// Lookup: a CLI command never creates or rescales a bucket (issue 21 must 3).
	svc, err := identity.New(ctx, js, identity.Config{PublicURL: cfg.PublicURL, Keys: keys, Audit: w, Lookup: true})
	if err != nil {
		nc.Close()
		return nil, nil, wrapf(err, "cli.bitrix24.noBucket", "%[1]v; run `signet setup` or start a server", err)
	}
	return svc, nc.Close, nil
}

func otpState(u *identity.User) string {
	switch {
	case u.OTPDisabled:
		return "not-required"
	case u.Enrolled:
		return "enrolled"
	}
	return "not-enrolled"
}

func userState(u *identity.User) string {
	if u.Disabled {
		return "disabled"
	}
	return "active"
}

func bitrixIDs(u *identity.User) string {
	var parts []string
	for m, id := range u.BitrixIDs {
		parts = append(parts, fmt.Sprintf("%s:%d", m, id))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// userJSON is a user as `--json` prints it: the stored fields and the two derived states.
type userJSON struct {
	identity.User
	OTP   string `json:"otp"`
	State string `json:"state"`
}

func newUserJSON(u *identity.User) userJSON {
	return userJSON{User: *u, OTP: otpState(u), State: userState(u)}
}

func printUser(w io.Writer, u *identity.User, asJSON bool) {
	if asJSON {
		writeJSON(w, newUserJSON(u))
		return
	}
	fmt.Fprint(w, tr("cli.user.show", "login:       %[1]s\ndescription: %[2]s\notp:         %[3]s\nstate:       %[4]s\nbitrix24:    %[5]s\n",
		u.Login, u.Description, otpState(u), userState(u), bitrixIDs(u)))
	for _, c := range u.Credentials {
		mark := ""
		if c == u.DefaultCredential {
			mark = tr("cli.user.default", " (default)")
		}
		fmt.Fprint(w, tr("cli.user.credential", "credential:  %[1]s%[2]s\n", c, mark))
	}
	fmt.Fprint(w, tr("cli.user.times", "created:     %[1]s\nupdated:     %[2]s\n", u.Created.UTC().Format(time.RFC3339), u.Updated.UTC().Format(time.RFC3339)))
}
