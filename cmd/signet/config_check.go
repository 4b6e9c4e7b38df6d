package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/jobkey"
	"github.com/signet-b24/signet/producer/identity"
)

// runConfigCheck is `signet config check`: what `signet serve` would refuse at start-up, found
// before it starts — the settings' own rules (config.Validate) and the files they name (readable,
// parseable, private where they hold a secret). Each problem is one line that names its setting;
// the contents of secret files are never printed.
func runConfigCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("config check", configUsage, stderr)
	roleName := fs.String("role", "serve", "the process the configuration is for: serve, intake or worker (which key files it needs)")
	cfg, rest, err := config.LoadFlags(fs, args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if cfg == nil && err != nil {
		// The file could not be read or parsed, or a value is not of its setting's type: nothing
		// further can be checked.
		fmt.Fprintln(stdout, oneLine(problemText(err)))
		return exitError{code: 1}
	}
	if len(rest) > 0 {
		return usageError{fmt.Errorf("unexpected arguments %v", rest)}
	}
	var r role
	switch *roleName {
	case "serve":
		r = role{intake: true, worker: true}
	case "intake":
		r = role{intake: true}
	case "worker":
		r = role{worker: true}
	default:
		return usageError{errorf("cli.config.role", "--role %[1]q: use serve, intake or worker", *roleName)}
	}
	problems := splitErrors(err)
	problems = append(problems, checkFiles(cfg, r)...)
	if *roleName != "serve" && cfg.NATS.URL == "" {
		problems = append(problems, "nats.url: "+tr("cli.config.natsURL", "`signet %[1]s` joins a NATS cluster; set it (or use `signet serve`)", *roleName))
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	if len(problems) > 0 {
		return exitError{code: 1}
	}
	where := tr("cli.config.defaults", "defaults and environment")
	if f := fs.Lookup("config").Value.String(); f != "" {
		where = f
	}
	fmt.Fprintln(stdout, tr("cli.config.ok", "configuration OK (%[1]s, for signet %[2]s)", where, *roleName))
	return nil
}

// splitErrors turns config.Validate's joined errors into one line each.
func splitErrors(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	return []string{oneLine(problemText(err))}
}

// problemText is a configuration problem in the CLI's language (internal/config's Problem; English:
// its own text), any other error as it says itself.
func problemText(err error) string {
	if p, ok := err.(*config.Problem); ok {
		return p.In(lang())
	}
	return err.Error()
}

// inCLILanguage is err for the last line of a failed command: problemText, and for errors.Join's
// list of problems (config.Validate's), each of them.
func inCLILanguage(err error) string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var parts, english []string
		for _, e := range j.Unwrap() {
			parts, english = append(parts, inCLILanguage(e)), append(english, e.Error())
		}
		if strings.Join(english, "\n") == err.Error() {
			return strings.Join(parts, "\n")
		}
	}
	return problemText(err)
}

// checkFiles reads every file the configuration names, as the process of role r would at start-up.
// Files that the server makes on first run (the secret keys, the admin token, an intake's job
// signing key) may be missing when their folder can be made.
func checkFiles(cfg *config.Config, r role) []string {
	var out []string
	// The problem of setting: its text in the CLI's language (the errors below are cliErrors, or a
	// deeper package's words in English).
	add := func(setting, format string, a ...any) {
		out = append(out, setting+": "+fmt.Sprintf(format, a...))
	}
	if _, err := newLogger(cfg.Log.Format, cfg.Log.Level, io.Discard); err != nil {
		add("log.level", "%v", errorf("cli.config.logLevel", "%[1]q: use debug, info, warn or error", cfg.Log.Level))
	}
	if st, err := os.Stat(cfg.DataDir); err == nil && !st.IsDir() {
		add("data_dir", "%v", errorf("cli.config.dataDirFile", "%[1]s is a file, not a folder", cfg.DataDir))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		add("data_dir", "%v", err)
	}
	// Files that must be there and readable when set.
	for _, f := range []struct{ setting, path string }{
		{"nats.creds_file", cfg.NATS.CredsFile},
		{"nats.password_file", cfg.NATS.PasswordFile},
		{"nats.tls_ca_file", cfg.NATS.TLSCAFile},
		{"nats.tls_cert_file", cfg.NATS.TLSCertFile},
		{"metrics.token_file", cfg.Metrics.TokenFile},
		{"bitrix24.client_secret_file", cfg.Bitrix24.ClientSecretFile},
		{"bitrix24.webhook_url_file", cfg.Bitrix24.WebhookURLFile},
	} {
		if f.path != "" {
			if err := readable(f.path); err != nil {
				add(f.setting, "%v", err)
			}
		}
	}
	// Private keys: readable, and by their owner (and the service's own group) only.
	for _, f := range []struct{ setting, path string }{
		{"nats.tls_key_file", cfg.NATS.TLSKeyFile},
	} {
		if f.path != "" {
			if err := readablePrivate(f.path); err != nil {
				add(f.setting, "%v", err)
			}
		}
	}
	// Made on first run when missing: their folder must be there or makeable; when present, they
	// must parse.
	if err := presentOrMakeable(cfg.Security.SecretKeysFile); err != nil {
		add("security.secret_keys_file", "%v", err)
	} else if exists(cfg.Security.SecretKeysFile) {
		if err := readablePrivate(cfg.Security.SecretKeysFile); err != nil {
			add("security.secret_keys_file", "%v", err)
		} else if _, err := identity.LoadKeys(cfg.Security.SecretKeysFile); err != nil {
			add("security.secret_keys_file", "%v", err)
		}
	}
	if err := presentOrMakeable(cfg.Security.AdminTokenFile); err != nil {
		add("security.admin_token_file", "%v", err)
	} else if exists(cfg.Security.AdminTokenFile) {
		if err := readablePrivate(cfg.Security.AdminTokenFile); err != nil {
			add("security.admin_token_file", "%v", err)
		}
	}
	if exists(cfg.Security.AdminPasswordsFile) {
		if err := readable(cfg.Security.AdminPasswordsFile); err != nil {
			add("security.admin_passwords_file", "%v", err)
		}
	}
	if r.intake {
		if exists(cfg.Security.JobSigningKeyFile) {
			if err := readablePrivate(cfg.Security.JobSigningKeyFile); err != nil {
				add("security.job_signing_key_file", "%v", err)
			} else if _, err := jobkey.LoadSigner(cfg.Security.JobSigningKeyFile, cfg.Security.JobTTL); err != nil {
				add("security.job_signing_key_file", "%v", err)
			}
		} else if err := presentOrMakeable(cfg.Security.JobSigningKeyFile); err != nil {
			add("security.job_signing_key_file", "%v", err)
		}
	}
	// A worker never makes the verification keys (it would trust a key no intake holds); with an
	// intake in the same process they are made with the signing key.
	if r.worker && (!r.intake || exists(cfg.Security.JobVerifyKeysFile)) {
		if err := readable(cfg.Security.JobVerifyKeysFile); err != nil {
			add("security.job_verify_keys_file", "%v", wrapf(err, "cli.config.verifyKeys", "%[1]v; copy the intake's public keys here", err))
		} else if _, err := jobkey.LoadVerifier(cfg.Security.JobVerifyKeysFile); err != nil {
			add("security.job_verify_keys_file", "%v", err)
		}
	}
	if r.worker {
		for i, t := range cfg.Tokens {
			setting := fmt.Sprintf("tokens[%d] (%s)", i, t.Name)
			if t.Module != "" {
				if err := readable(t.Module); err != nil {
					add(setting+".module", "%v", err)
				}
			}
			if t.PinFile != "" {
				if err := readablePrivate(t.PinFile); err != nil {
					add(setting+".pin_file", "%v", err)
				}
			}
			if t.PinEnv != "" && os.Getenv(t.PinEnv) == "" {
				add(setting+".pin_env", "%v", errorf("cli.config.pinEnv", "the environment variable %[1]s is not set here", t.PinEnv))
			}
		}
	}
	return out
}

// readable opens the file for reading (the way the server will) and closes it unread.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return wrapf(err, "cli.config.unreadable", "%[1]s cannot be read: %[2]v", path, unwrapPath(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return errorf("cli.config.isFolder", "%[1]s is a folder, not a file", path)
	}
	return nil
}

// readablePrivate is readable, and refuses a secret others may read (secret_mode.go).
func readablePrivate(path string) error {
	if err := readable(path); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return secretModeProblem(path, st.Mode().Perm(), fileGroup(st), processGroups())
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// presentOrMakeable: the file is there, or the nearest existing folder above it is a folder (the
// server makes the rest on first run).
func presentOrMakeable(path string) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err == nil {
			if !st.IsDir() {
				return errorf("cli.config.parentFile", "%[1]s cannot be created: %[2]s is a file", path, dir)
			}
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) || dir == filepath.Dir(dir) {
			return wrapf(err, "cli.config.uncreatable", "%[1]s cannot be created: %[2]v", path, unwrapPath(err))
		}
	}
}

// unwrapPath drops the *PathError's own copy of the path, which the message already names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
