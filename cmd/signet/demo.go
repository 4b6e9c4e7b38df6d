package main

import (
	"context"
	"crypto"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/producer/identity"
)

//go:embed assets/invoice.pdf
var demoInvoice []byte

// demoResult is what `signet demo` measured.
type demoResult struct {
	Signed, Failed int
	Elapsed        time.Duration
	Out            string
	// Files maps each deal's Disk file id to the signed PDF written in Out.
	Files map[int]string
	// EventTokens are the robot calls sent, and the portal is the emulator they were sent from, for tests.
	EventTokens []string
	Portal      *emulator.Portal
	// Audit is the verification of the audit chain the run wrote, checkpoints checked with the demo key.
	Audit *audit.Report
}

// runDemo starts everything in one process plus an emulated Bitrix24 portal, installs Signet on it,
// sends N robot calls exactly as Bitrix24 would, waits for N callbacks and prints one line.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", `Usage: signet demo [--docs N] [--out DIR] [flags]

Starts everything in one process plus an emulated Bitrix24 portal, installs Signet on it, sends N robot
calls exactly as Bitrix24 does, waits for the N callbacks and prints one line:
signed=N failed=0 docs_per_s=X out=DIR.
`, stderr)
	docs := fs.Int("docs", 100, "number of documents (robot calls)")
	out := fs.String("out", "demo-out", "directory for the signed PDFs")
	pdf := fs.String("pdf", "", "PDF to sign (default: the built-in one-page invoice)")
	dataDir := fs.String("data-dir", "", "state directory (default: a temporary one, removed at the end)")
	visible := fs.Bool("visible", false, "draw a visible signet on the last page")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up waiting for the callbacks after this long")
	verbose := fs.Bool("v", false, "log every step")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *docs < 1 {
		return usageError{errorf("cli.demo.docs", "--docs must be at least 1")}
	}
	doc := demoInvoice
	if *pdf != "" {
		b, err := os.ReadFile(*pdf)
		if err != nil {
			return err
		}
		doc = b
	}
	level := "warn"
	if *verbose {
		level = "info"
	}
	log, err := newLogger("auto", level, stderr)
	if err != nil {
		return err
	}
	res, err := demo(ctx, demoOptions{Docs: *docs, Out: *out, PDF: doc, DataDir: *dataDir, Visible: *visible, Timeout: *timeout, Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed=%d failed=%d docs_per_s=%.1f out=%s\n", res.Signed, res.Failed, float64(res.Signed)/res.Elapsed.Seconds(), res.Out)
	if res.Failed > 0 {
		return errorf("cli.demo.failed", "%[1]v of %[2]v documents were not signed; run with -v to see why", res.Failed, *docs)
	}
	return nil
}

type demoOptions struct {
	Docs    int
	Out     string
	PDF     []byte
	DataDir string
	Visible bool
	// Evidence asks for self-proving documents (robot property evidence=Y).
	Evidence bool
	Timeout  time.Duration
	Log      *zap.Logger
	// Concurrency of the robot calls (Bitrix24's queue server sends several at once).
	Senders int
}

func demo(ctx context.Context, o demoOptions) (*demoResult, error) {
	if o.Senders == 0 {
		o.Senders = 4
	}
	dataDir := o.DataDir
	if dataDir == "" {
		d, err := os.MkdirTemp("", "signet-demo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dataDir = d
	}
	portal := emulator.New(emulator.Config{Log: o.Log.Named("emulator")})
	if _, err := portal.Start(); err != nil {
		return nil, err
	}
	defer portal.Close()
	settings, err := emulatorSettings(portal, dataDir)
	if err != nil {
		return nil, err
	}
	cfg, _, err := config.Load("demo", append(settings, "--bitrix24-rate-per-sec", "1000", "--bitrix24-burst", "1000"),
		func(string) string { return "" })
	if err != nil {
		return nil, err
	}
	a, err := openApp(ctx, cfg, o.Log, role{intake: true, worker: true})
	if err != nil {
		return nil, err
	}
	defer a.Close()
	srv, err := a.start(ctx, role{intake: true, worker: true})
	if err != nil {
		return nil, err
	}
	defer srv.stop()

	if err := portal.Install(ctx, cfg.PublicURL+"/bitrix24/install"); err != nil {
		return nil, err
	}
	signerID := emulator.AdminUserID
	if err := a.identity.AddUser(ctx, identity.User{Login: "demo", Description: "Signet demo signer",
		BitrixIDs: map[string]int{portal.MemberID(): signerID}, OTPDisabled: true,
		Credentials: []string{cfg.Demo.Credential}, DefaultCredential: cfg.Demo.Credential}); err != nil && !errors.Is(err, identity.ErrUserExists) {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}

	type call struct{ deal, disk int }
	calls := make([]call, o.Docs)
	for i := range calls {
		deal := 1000 + i
		disk, _ := portal.AddDealFile(deal, fmt.Sprintf("invoice-%d.pdf", deal), o.PDF)
		calls[i] = call{deal, disk}
	}
	visible, evidenceYN := "N", "N"
	if o.Visible {
		visible = "Y"
	}
	if o.Evidence {
		evidenceYN = "Y"
	}
	start := time.Now()
	tokens := make([]string, o.Docs)
	var next atomic.Int64
	var wg sync.WaitGroup
	var sendErr error
	var mu sync.Mutex
	for range o.Senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= o.Docs {
					return
				}
				c := calls[i]
				tok, status, err := portal.RobotCall(ctx, cfg.PublicURL+"/bitrix24/robot", cfg.Bitrix24.RobotCode, c.deal, map[string]any{
					producer.PropDocument: strconv.Itoa(c.disk), producer.PropSigner: "user_" + strconv.Itoa(signerID),
					producer.PropCredential: cfg.Demo.Credential, producer.PropVisible: visible, producer.PropPage: "last",
					producer.PropPosition: "bottom-right", producer.PropReason: "Approved by Signet demo", producer.PropEvidence: evidenceYN,
				})
				if err == nil && status != 200 {
					err = fmt.Errorf("robot call for deal %d: Signet answered HTTP %d", c.deal, status)
				}
				if err != nil {
					mu.Lock()
					sendErr = errors.Join(sendErr, err)
					mu.Unlock()
				}
				tokens[i] = tok
			}
		}()
	}
	wg.Wait()
	if sendErr != nil {
		return nil, sendErr
	}

	deadline := time.Now().Add(o.Timeout)
	var sent map[string][]map[string]any
	for {
		sent = portal.EventsSent()
		done := 0
		for _, t := range tokens {
			if len(sent[t]) > 0 {
				done++
			}
		}
		if done == o.Docs {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of %d robots completed within %s", done, o.Docs, o.Timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	res := &demoResult{Elapsed: time.Since(start), Out: o.Out, Files: map[int]string{}, EventTokens: tokens, Portal: portal}
	for i, c := range calls {
		ret := sent[tokens[i]][0]
		versions := portal.FileVersions(c.disk)
		if ret["signed"] != "Y" || len(versions) < 2 {
			res.Failed++
			o.Log.Warn("document not signed", zap.Int("deal", c.deal), zap.Any("error", ret["errorText"]))
			continue
		}
		path := filepath.Join(o.Out, fmt.Sprintf("deal-%d.pdf", c.deal))
		if err := os.WriteFile(path, versions[len(versions)-1], 0o644); err != nil {
			return nil, err
		}
		res.Files[c.disk] = path
		res.Signed++
	}
	cred, err := a.keys.Credential(ctx, cfg.Demo.Credential)
	if err != nil {
		return nil, err
	}
	if _, err := a.audit.Checkpoint(ctx); err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	if res.Audit, err = audit.Verify(ctx, a.js, contracts.StreamAudit, audit.VerifyOptions{Keys: []crypto.PublicKey{cred.Key.Public()}}); err != nil {
		return nil, err
	}
	return res, nil
}

// emulatorSettings are the settings that point a Signet process at an emulated portal: a free loopback
// address, the portal allowed to install it (on loopback, so allow_private), and the emulator's OAuth
// server and client secret (written to a file in dataDir, as a secret must be).
func emulatorSettings(portal *emulator.Portal, dataDir string) ([]string, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	secretFile := filepath.Join(dataDir, "bitrix24.client_secret")
	if err := os.WriteFile(secretFile, []byte(portal.ClientSecret()), 0o600); err != nil {
		return nil, err
	}
	// The metrics listener on a port of its own choosing: tests and demos run side by side.
	return []string{"--data-dir", dataDir, "--listen", addr, "--metrics-listen", "127.0.0.1:0",
		"--bitrix24-portals", portal.BaseURL(), "--bitrix24-allow-private",
		"--bitrix24-client-id", portal.ClientID(), "--bitrix24-client-secret-file", secretFile,
		"--bitrix24-oauth-url", portal.OAuthURL()}, nil
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
