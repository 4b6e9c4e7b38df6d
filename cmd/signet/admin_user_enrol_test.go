package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/producer/identity"
)

// `signet admin user enrol --data-dir D` beside a running server prints a link on that server's
// public_url, which the CLI was not told, and the server answers it (issue 19).
func TestAdminUserEnrolPrintsServersPublicURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, cfg, _ := startInstalled(t, ctx, emulator.Config{Log: zap.NewNop()})
	if err := a.identity.AddUser(ctx, identity.User{Login: "ivan"}); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, "admin", "user", "enrol", "ivan", "--data-dir", cfg.DataDir)
	if code != 0 {
		t.Fatalf("signet admin user enrol: exit %d\n%s", code, out)
	}
	link := strings.Fields(out)[0]
	if !strings.HasPrefix(link, cfg.PublicURL+"/enrol/") {
		t.Fatalf("the link %s is not on the server's public_url %s", link, cfg.PublicURL)
	}
	if _, err := a.identity.PendingSecret(ctx, link[strings.LastIndexByte(link, '/')+1:]); err != nil {
		t.Fatalf("the server does not know the printed link: %v", err)
	}
}
