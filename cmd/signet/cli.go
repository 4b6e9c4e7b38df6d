package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/signet-b24/signet/internal/config"
)

// The helpers every CLI command shares: the server's settings as flags, and one positional argument
// among flags.

// Which settings a CLI command reads, by YAML key. A command registers only these as flags, so its
// --help lists its own (issue 16: `status --help` was 87 lines of server flags); the others still come
// from the configuration file and the environment. data_dir is always there: the CLI finds a running
// `signet serve`'s NATS and files through it.
var (
	natsClientKeys = []string{"nats.url", "nats.creds_file", "nats.user", "nats.password_file",
		"nats.tls_ca_file", "nats.tls_cert_file", "nats.tls_key_file", "nats.replicas"}
	storageKeys  = []string{"storage.url", "storage.retention", "storage.credentials_file"}
	bitrix24Keys = []string{"bitrix24.client_id", "bitrix24.client_secret_file", "bitrix24.oauth_url", "bitrix24.portals",
		"bitrix24.allow_private", "bitrix24.rate_per_sec", "bitrix24.burst", "bitrix24.overload_pause", "bitrix24.robot_code", "bitrix24.webhook_url_file"}
)

// keys joins lists of setting keys.
func keys(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// settingFlags adds data_dir, the settings named in keys (--nats-url, …) and --config to fs, so a CLI
// command finds the same NATS and storage as the server; the returned function loads the whole
// configuration (file, environment, these flags) after Parse.
func settingFlags(fs *flag.FlagSet, keys ...string) func(name string) (*config.Config, error) {
	wanted := map[string]bool{"data_dir": true}
	for _, k := range keys {
		wanted[k] = true
	}
	var settings []config.Setting
	for _, s := range config.Defaults().Settings() {
		if wanted[s.Key] {
			settings = append(settings, s)
			delete(wanted, s.Key)
		}
	}
	if len(wanted) > 0 {
		panic(fmt.Sprintf("settingFlags: no such settings %v", wanted)) // a programming error, caught by every test
	}
	mine := map[string]bool{}
	for _, s := range settings {
		s.Define(fs)
		mine[s.Flag()] = true
	}
	configFile := fs.String("config", os.Getenv("SIGNET_CONFIG"), "YAML configuration file (env SIGNET_CONFIG)")
	return func(name string) (*config.Config, error) {
		// The settings given on the command line, as --flag=value (a bool flag takes no separate value).
		var args []string
		fs.Visit(func(f *flag.Flag) {
			if mine[f.Name] {
				args = append(args, "--"+f.Name+"="+f.Value.String())
			}
		})
		if *configFile != "" {
			args = append(args, "--config", *configFile)
		}
		cfg, _, err := config.Load(name, args, os.Getenv)
		return cfg, err
	}
}

// parseWithPositional parses flags that may come before or after one positional argument.
func parseWithPositional(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", nil
	}
	pos := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", errorf("cli.unexpectedArguments", "unexpected arguments %[1]v", fs.Args())
	}
	return pos, nil
}

// actionFlags begins a `signet <command> <action> [flags]` command. With no action, or help, it prints
// the usage and returns a nil FlagSet (no action at all is a usage error); otherwise it returns the
// action and a FlagSet for it that reports to stderr.
func actionFlags(command, usage string, args []string, stdout, stderr io.Writer) (string, *flag.FlagSet, error) {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, localUsage(command, usage))
		if len(args) == 0 {
			return "", nil, usageError{errorf("cli.actionRequired", "an action is required")}
		}
		return "", nil, nil
	}
	return args[0], newFlagSet(command+" "+args[0], usage, stderr), nil
}

// newFlagSet is a command's flag set: errors and --help go to stderr, --help shows usage then the
// command's own flags.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, localUsage(name, usage), text("cli.flags.heading", "\nFlags:\n"))
		printFlags(stderr, fs)
	}
	return fs
}

// parseArgs parses flags that may come before, between or after the positional arguments, and
// returns the positional ones; want is how many there must be (-1: any number). A --help returns
// flag.ErrHelp (exit 0); anything else wrong is a usageError (exit 2).
func parseArgs(fs *flag.FlagSet, args []string, want int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if want >= 0 && len(pos) != want {
		if len(pos) > want {
			return nil, usageError{errorf("cli.unexpectedArguments", "unexpected arguments %[1]v", pos[want:])}
		}
		return nil, usageError{errorf("cli.argumentsMissing", "%[1]v argument(s) missing; see `signet %[2]s --help`", want-len(pos), fs.Name())}
	}
	return pos, nil
}
