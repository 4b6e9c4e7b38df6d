package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/signet-b24/signet/internal/config"
)

// runConfig prints every setting as a Markdown table: the README's settings table is this output.
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fmt.Fprintln(stdout, "| setting (YAML) | environment | flag | default | meaning |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|")
	for _, s := range config.Defaults().Settings() {
		def := s.Value()
		if def == "" {
			def = "—"
		}
		fmt.Fprintf(stdout, "| `%s` | `%s` | `--%s` | `%s` | %s |\n", s.Key, s.Env(), s.Flag(), def, strings.ReplaceAll(s.Help, "|", "\\|"))
	}
	return nil
}
