// Command signet is Signet's one binary. main only dispatches; each subcommand lives in its own file
// with its own flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
)

// command is one subcommand: it reads its own flags from args and writes its output to stdout.
type command struct {
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	summary string
}

func commands() map[string]command {
	return map[string]command{
		"serve":   {runServe, "run the intake, the workers and the web pages in one process (embedded NATS by default)"},
		"intake":  {runIntake, "run only the HTTP intake (needs nats.url)"},
		"worker":  {runWorker, "run only the signing and callback workers (needs nats.url)"},
		"demo":    {runDemo, "sign N documents end to end against an emulated Bitrix24 portal"},
		"dlq":     {runDLQ, "list, show, retry or purge the dead letters (jobs and callbacks that failed for good)"},
		"sign":    {runSign, "sign a PDF, or a folder of PDFs, with a key on a PKCS#11 token (outside the queue)"},
		"verify":  {runVerify, "check every signature of a PDF; exit 0 when all are valid"},
		"extend":  {runExtend, "add long-term validation data (PAdES B-LT) and a document timestamp (B-LTA) to a signed PDF"},
		"config":  {runConfig, "print every setting with its environment variable, flag and default"},
		"admin":   {runAdmin, "manage users, certificates and Bitrix24 portals (`signet admin help`)"},
		"enqueue": {runEnqueue, "queue a manifest or a folder of PDFs for signing under one batch grant (one OTP)"},
		"batch":   {runBatch, "progress of a batch: signed, failed, pending, rate, failures (`signet batch status ID --watch`)"},
		"route":   {runRoute, "start a signing route from a JSON file, show one, or cancel it (`signet route status ID`)"},
		"setup":   {runSetup, "create or update the streams, consumers, buckets and storage (see nats.provision)"},
		"status":  {runStatus, "streams, consumers (pending, rate, time to drain), tokens, storage and portals on one screen"},
		"archive": {runArchive, "what keeps each stored signed document verifiable, until when, and what the archive job renews next"},
		"audit":   {runAudit, "verify the hash-chained audit trail, export it, or show one document's story"},
		"version": {runVersion, "the version, VCS revision and Go version of this binary (also `signet --version`)"},
	}
}

var order = []string{"serve", "intake", "worker", "demo", "sign", "verify", "extend", "admin", "audit", "archive", "enqueue", "batch", "route", "setup", "status", "dlq", "config", "version"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(profiled(func() int { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) }))
}

// profiled writes a CPU profile of the whole command to $SIGNET_CPUPROFILE when it is set (for the
// benchmarks: `SIGNET_CPUPROFILE=cpu.out signet serve`, then `go tool pprof bin/signet cpu.out`).
// "%p" in the path is replaced by the process id, for runs that start several signet processes.
func profiled(f func() int) int {
	path := os.Getenv("SIGNET_CPUPROFILE")
	if path == "" {
		return f()
	}
	path = strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
	out, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "signet: SIGNET_CPUPROFILE: %v\n", err)
		return 1
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		fmt.Fprintf(os.Stderr, "signet: SIGNET_CPUPROFILE: %v\n", err)
		return 1
	}
	defer pprof.StopCPUProfile()
	return f()
}

// run returns the process exit code: 0 success, 1 the command failed, 2 bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	setLanguage(os.Getenv)
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout, cmds)
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		fmt.Fprintln(stdout, currentBuild())
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "signet: %s\n\n", tr("cli.unknownCommand", "unknown command %[1]q", args[0]))
		usage(stderr, cmds)
		return 2
	}
	if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "signet %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(stderr, "signet %s: %s\n", args[0], inCLILanguage(err))
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprint(w, text("cli.usage", "Signet signs PDF documents for Bitrix24 with PAdES signatures made by keys on PKCS#11 tokens.\n\nUsage: signet <command> [flags]\n\nCommands:\n"))
	for _, name := range order {
		fmt.Fprintf(w, "  %-8s %s\n", name, text("cli.summary."+name, cmds[name].summary))
	}
	fmt.Fprint(w, text("cli.usage.more", "\nRun `signet <command> --help` for a command's flags.\n"))
}

// usageError is a mistake in the command line (exit code 2). It unwraps, so that a --help found by a
// command's flag set (flag.ErrHelp inside a usageError) still exits 0.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }
