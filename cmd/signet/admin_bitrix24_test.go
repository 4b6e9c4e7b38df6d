package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
)

// A renamed portal redirects; Signet follows nothing (issue 15, found 4) until the operator moves it:
// the new domain must be in bitrix24.portals, then `admin bitrix24 move` stores it and checks app.info.
func TestAdminBitrix24Move(t *testing.T) {
	e := startB24(t, emulator.Config{})
	ctx := context.Background()
	mid := e.portal.MemberID()
	old := e.portal.BaseURL()
	e.portal.SetFailure(emulator.Failure{MoveDomain: true})
	if err := e.a.b24.Call(ctx, mid, "app.info", nil, nil); !errors.Is(err, bitrix24.ErrPortalMoved) {
		t.Fatalf("call to the renamed portal: %v", err)
	}
	newHost := strings.TrimPrefix(e.portal.BaseURL(), "http://")
	flags := []string{"--data-dir", e.cfg.DataDir, "--bitrix24-allow-private", "--member-id", mid, "--domain", newHost}
	var stdout, stderr bytes.Buffer
	if code := run(ctx, append([]string{"admin", "bitrix24", "move", "--bitrix24-portals", old}, flags...), &stdout, &stderr); code == 0 {
		t.Fatalf("move to a domain outside bitrix24.portals succeeded: %s", stdout.String())
	}
	stdout.Reset()
	stderr.Reset()
	portalsFlag := old + "," + e.portal.BaseURL()
	if code := run(ctx, append([]string{"admin", "bitrix24", "move", "--bitrix24-portals", portalsFlag}, flags...), &stdout, &stderr); code != 0 {
		t.Fatalf("move: exit %d: %s %s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "app.info answered at "+newHost) {
		t.Fatalf("move printed %q", stdout.String())
	}
	if err := e.a.b24.Call(ctx, mid, "app.info", nil, nil); err != nil {
		t.Fatalf("call after the move: %v", err)
	}
}

// An OVERLOAD pause ends early in every process when the operator runs `admin bitrix24 resume`
// (Bitrix24 support lifted the block); the portal is called again.
func TestAdminBitrix24Resume(t *testing.T) {
	e := startB24(t, emulator.Config{})
	ctx := context.Background()
	mid := e.portal.MemberID()
	e.portal.SetFailure(emulator.Failure{Calls: 1, Status: 503, Code: bitrix24.ErrCodeOverloadLimit, Description: "Portal overloaded"})
	if err := e.a.b24.Call(ctx, mid, "app.info", nil, nil); !errors.Is(err, bitrix24.ErrPortalOverloaded) {
		t.Fatalf("OVERLOAD_LIMIT: %v", err)
	}
	if err := e.a.b24.Call(ctx, mid, "app.info", nil, nil); !errors.Is(err, bitrix24.ErrPortalOverloaded) {
		t.Fatalf("during the pause: %v", err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"admin", "bitrix24", "resume", "--data-dir", e.cfg.DataDir}, &stdout, &stderr); code != 2 {
		t.Fatalf("resume without --member-id: exit %d, want 2", code)
	}
	if code := run(ctx, []string{"admin", "bitrix24", "resume", "--data-dir", e.cfg.DataDir, "--member-id", mid}, &stdout, &stderr); code != 0 {
		t.Fatalf("resume: exit %d: %s %s", code, stdout.String(), stderr.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for !e.a.b24.PausedUntil(mid).IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("the server did not learn that the pause ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.a.b24.Call(ctx, mid, "app.info", nil, nil); err != nil {
		t.Fatalf("after resume: %v", err)
	}
}
