package main

import (
	"context"
	"fmt"
	"io"
	"sort"
)

// adminCommands are the `signet admin <area>` commands; each area's file adds itself in init.
var adminCommands = map[string]command{}

func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprint(stdout, text("cli.usage.admin", "Usage: signet admin <area> <action> [flags]\n\nAreas:\n"))
		names := make([]string, 0, len(adminCommands))
		for n := range adminCommands {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(stdout, "  %-9s %s\n", n, text("cli.summary.admin."+n, adminCommands[n].summary))
		}
		return nil
	}
	c, ok := adminCommands[args[0]]
	if !ok {
		return usageError{errorf("cli.admin.unknownArea", "unknown admin area %[1]q; run `signet admin help`", args[0])}
	}
	return c.run(ctx, args[1:], stdout, stderr)
}
