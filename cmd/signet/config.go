package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/signet-b24/signet/internal/config"
)

const configUsage = `Usage: signet config [print [--json] | check [--role serve|intake|worker] [flags]]

  print   (the default) every setting as a Markdown table: YAML key, environment variable, flag,
          default and meaning; the settings table of docs/operations.md is this output (--json: an array)
  check   load the configuration as ` + "`signet serve`" + ` would (--config FILE or SIGNET_CONFIG, the
          environment, the flags), validate it and read the files it names; one line per problem,
          each naming its setting; exit 0 when there is none, 1 otherwise
`

// runConfig is `signet config`: the settings table, or a check of a configuration.
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	action := "print"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		action, args = args[0], args[1:]
	}
	switch action {
	case "print":
		fs := newFlagSet("config print", configUsage, stderr)
		asJSON := fs.Bool("json", false, "print the settings as a JSON array")
		if _, err := parseArgs(fs, args, 0); err != nil {
			return err
		}
		if *asJSON {
			return writeSettingsJSON(stdout)
		}
		printSettings(stdout)
		return nil
	case "check":
		return runConfigCheck(ctx, args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, localUsage("config", configUsage))
		return nil
	}
	fmt.Fprint(stderr, localUsage("config", configUsage))
	return usageError{errorf("cli.config.unknownAction", "unknown action %[1]q; use print or check", action)}
}

// printSettings prints every setting as a Markdown table.
func printSettings(stdout io.Writer) {
	fmt.Fprintln(stdout, "| setting (YAML) | environment | flag | default | meaning |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|")
	for _, s := range config.Defaults().Settings() {
		def := s.Value()
		if def == "" {
			def = "—"
		}
		fmt.Fprintf(stdout, "| `%s` | `%s` | `--%s` | `%s` | %s |\n", s.Key, s.Env(), s.Flag(), def, strings.ReplaceAll(s.Help, "|", "\\|"))
	}
}

// writeSettingsJSON prints every setting with its names and embedded default.
func writeSettingsJSON(stdout io.Writer) error {
	type setting struct {
		Key     string `json:"key"`
		Env     string `json:"env"`
		Flag    string `json:"flag"`
		Default string `json:"default"`
		Help    string `json:"help"`
	}
	var out []setting
	for _, s := range config.Defaults().Settings() {
		out = append(out, setting{s.Key, s.Env(), "--" + s.Flag(), s.Value(), s.Help})
	}
	return writeJSON(stdout, out)
}
