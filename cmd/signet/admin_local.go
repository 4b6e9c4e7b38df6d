package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/web"
)

func init() {
	adminCommands["local-admin"] = command{runAdminLocal, "local administrators of the /admin control panel (set|remove|list)"}
}

const adminLocalUsage = `Usage: signet admin local-admin <action> [LOGIN] [flags]

Actions:
  set LOGIN [--password-file FILE]   create the administrator or change their password; the password is
                                     typed without echo on a terminal, read as the first line of standard
                                     input, or of FILE (at least 12 characters)
  remove LOGIN                       delete the administrator; their sessions end at the next request
  list [--json]

The accounts are LOGIN:Argon2id lines kept in NATS (bucket signet_secrets, sealed under
security.secret_keys_file), so every intake signs the same administrators in; the command writes there
when NATS is reachable (nats.url, or a running ` + "`signet serve`" + ` on this data_dir). Without NATS it
writes security.admin_passwords_file (default <data_dir>/admin.passwords), which the next server start
imports once into NATS and renames to .imported. Changes need no restart.
`

// localAdminStdin is where `set` reads the password when no --password-file is given.
var localAdminStdin io.Reader = os.Stdin

func runAdminLocal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	action, fs, err := actionFlags("admin local-admin", adminLocalUsage, args, stdout, stderr)
	if fs == nil {
		return err
	}
	passwordFile := fs.String("password-file", "", "read the password from the first line of this file (set)")
	asJSON := fs.Bool("json", false, "print JSON (list)")
	load := settingFlags(fs, keys(natsClientKeys, []string{"public_url", "security.admin_passwords_file", "security.secret_keys_file"})...)
	login, err := parseWithPositional(fs, args[1:])
	if err != nil {
		return usageError{err}
	}
	cfg, err := load("admin local-admin")
	if err != nil {
		return usageError{err}
	}
	store, done, err := localAdminStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	switch action {
	case "set":
		if login == "" {
			return usageError{errorf("cli.localAdmin.setNeedsLogin", "set needs a LOGIN: signet admin local-admin set LOGIN")}
		}
		pw, err := readAdminPassword(*passwordFile, stderr, login)
		if err != nil {
			return err
		}
		if err := web.SetLocalAdminIn(ctx, store, login, pw); err != nil {
			return err
		}
		fmt.Fprintln(stdout, tr("cli.localAdmin.set", "local administrator %[1]s set in %[2]v; sign in at %[3]s/admin", login, store, cfg.PublicURL))
	case "remove":
		if login == "" {
			return usageError{errorf("cli.localAdmin.removeNeedsLogin", "remove needs a LOGIN")}
		}
		if err := web.RemoveLocalAdminIn(ctx, store, login); err != nil {
			return err
		}
		fmt.Fprintln(stdout, tr("cli.localAdmin.removed", "local administrator %[1]s removed from %[2]v", login, store))
	case "list":
		logins, err := web.LocalAdminsIn(ctx, store)
		if err != nil {
			return err
		}
		if *asJSON {
			type entry struct {
				Login string `json:"login"`
			}
			out := make([]entry, len(logins))
			for i, l := range logins {
				out[i] = entry{l}
			}
			return writeJSON(stdout, out)
		}
		for _, l := range logins {
			fmt.Fprintln(stdout, l)
		}
	default:
		return usageError{errorf("cli.localAdmin.unknownAction", "unknown action %[1]q; run `signet admin local-admin help`", action)}
	}
	return nil
}

// readAdminPassword reads the password without ever echoing or logging it: from a file, from a
// terminal without echo (asked twice), or as the first line of standard input.
func readAdminPassword(file string, stderr io.Writer, login string) ([]byte, error) {
	firstLine := func(r io.Reader, from string) ([]byte, error) {
		line, err := bufio.NewReader(r).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("reading the password from %s: %w", from, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return nil, errorf("cli.localAdmin.noPassword", "no password in %[1]s", from)
		}
		return []byte(line), nil
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--password-file: %w", err)
		}
		defer f.Close()
		return firstLine(f, file)
	}
	if f, ok := localAdminStdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, tr("cli.localAdmin.newPassword", "New password for %[1]s: ", login))
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		fmt.Fprint(stderr, tr("cli.localAdmin.again", "Again: "))
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		if string(a) != string(b) {
			return nil, errorf("cli.localAdmin.differ", "the two passwords differ; nothing was changed")
		}
		return a, nil
	}
	return firstLine(localAdminStdin, "standard input")
}

// localAdminStore is where the command reads and writes: the sealed record in NATS when NATS is
// reachable as configured (every intake reads it there), else the passwords file, which a server
// imports at its next start (web.ImportAdminsFile).
func localAdminStore(ctx context.Context, cfg *config.Config) (web.AdminStore, func(), error) {
	if _, err := os.Stat(natsURLFile(cfg)); cfg.NATS.URL == "" && err != nil {
		return web.AdminsFile(cfg.Security.AdminPasswordsFile), func() {}, nil
	}
	keys, err := identity.LoadKeys(cfg.Security.SecretKeysFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%w; the local administrators in NATS are sealed under the server's security.secret_keys_file: point to it", err)
	}
	nc, js, err := dialNATS(cfg)
	if err != nil {
		return nil, nil, err
	}
	kv, err := js.KeyValue(ctx, contracts.BucketSecrets)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("bucket %s: %w; run `signet setup` or start a server first", contracts.BucketSecrets, err)
	}
	if _, err := web.ImportAdminsFile(ctx, cfg.Security.AdminPasswordsFile, &web.AdminsNATS{KV: kv, Keys: keys}); err != nil {
		nc.Close()
		return nil, nil, err
	}
	return &web.AdminsNATS{KV: kv, Keys: keys}, nc.Close, nil
}
