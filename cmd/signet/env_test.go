package main

import (
	"context"
	"testing"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// startInstalled runs one Signet process (intake and workers, embedded NATS, the SoftHSM demo token)
// with extra settings, installed on an emulated portal and reached only over HTTP on 127.0.0.1; both
// are stopped when the test ends.
func startInstalled(t *testing.T, ctx context.Context, ecfg emulator.Config, extra ...string) (*app, *config.Config, *emulator.Portal) {
	t.Helper()
	testenv.RequireTool(t, "softhsm2-util")
	portal := emulator.New(ecfg)
	if _, err := portal.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { portal.Close() })
	settings, err := emulatorSettings(portal, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load("test", append(settings, extra...), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	a := startRole(t, ctx, cfg, role{intake: true, worker: true})
	if err := portal.Install(ctx, cfg.PublicURL+"/bitrix24/install"); err != nil {
		t.Fatal(err)
	}
	return a, cfg, portal
}

// startRole opens and starts one process of role r with cfg; it is stopped when the test ends.
func startRole(t *testing.T, ctx context.Context, cfg *config.Config, r role) *app {
	t.Helper()
	a, err := openApp(ctx, cfg, zap.NewNop(), r)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := a.start(ctx, r)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.stop()
		a.Close()
	})
	return a
}
