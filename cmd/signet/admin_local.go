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

The accounts are LOGIN:Argon2id lines in security.admin_passwords_file (default
<data_dir>/admin.passwords); the server reads the file at every sign-in, so no restart is needed.
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
	load := settingFlags(fs, "public_url", "security.admin_passwords_file")
	login, err := parseWithPositional(fs, args[1:])
	if err != nil {
		return usageError{err}
	}
	cfg, err := load("admin local-admin")
	if err != nil {
		return usageError{err}
	}
	path := cfg.Security.AdminPasswordsFile
	switch action {
	case "set":
		if login == "" {
			return usageError{errorf("cli.localAdmin.setNeedsLogin", "set needs a LOGIN: signet admin local-admin set LOGIN")}
		}
		pw, err := readAdminPassword(*passwordFile, stderr, login)
		if err != nil {
			return err
		}
		if err := web.SetLocalAdmin(path, login, pw); err != nil {
			return err
		}
		fmt.Fprintln(stdout, tr("cli.localAdmin.set", "local administrator %[1]s set in %[2]s; sign in at %[3]s/admin", login, path, cfg.PublicURL))
	case "remove":
		if login == "" {
			return usageError{errorf("cli.localAdmin.removeNeedsLogin", "remove needs a LOGIN")}
		}
		if err := web.RemoveLocalAdmin(path, login); err != nil {
			return err
		}
		fmt.Fprintln(stdout, tr("cli.localAdmin.removed", "local administrator %[1]s removed from %[2]s", login, path))
	case "list":
		logins, err := web.LocalAdmins(path)
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
