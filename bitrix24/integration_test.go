package bitrix24_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
)

// Reference §7/§8.1: 120 callers at once against a portal that allows 2 requests/s (burst 5) are
// served by a handful of batch requests, each command runs exactly once, and none hits the limit.
func TestBatcherCombinesCallersIntoFewBatches(t *testing.T) {
	p, c, _ := setup(t, emulator.Config{RatePerSec: 2, Burst: 5}, bitrix24.ClientConfig{RatePerSec: 2, Burst: 5})
	b := bitrix24.NewBatcher(c, 0)
	const n = 120
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := b.Do(ctx(t), p.MemberID(), []bitrix24.BatchCommand{
				{Method: "im.notify.system.add", Params: map[string]any{"USER_ID": 1, "MESSAGE": fmt.Sprintf("job %d", i), "TAG": fmt.Sprintf("t%d", i)}},
				{Method: "app.info"},
			})
			switch {
			case err != nil:
				errs <- err
			case len(res) != 2 || res[0].Err != nil || res[1].Err != nil:
				errs <- fmt.Errorf("caller %d: results %+v", i, res)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	batches, limited := 0, 0
	for _, call := range p.Calls() {
		if call.Method == "batch" {
			batches++
		}
		if call.ErrorCode == bitrix24.ErrCodeQueryLimitExceeded {
			limited++
		}
	}
	if got := len(p.Notifications()); got != n {
		t.Errorf("%d notifications, want %d (each command exactly once)", got, n)
	}
	// 240 commands fit in 5 batches of 50; a few more when callers arrive while one is in flight.
	if batches > 12 || limited > 0 {
		t.Errorf("%d batch requests (%d rejected by the rate limit) for %d commands", batches, limited, 2*n)
	}
}

// A command of a batch that failed for good is reported to its caller alone; the other callers'
// commands in the same request succeed and are not sent again.
func TestBatcherReportsPerCommandFailures(t *testing.T) {
	p, c, _ := setup(t, emulator.Config{}, bitrix24.ClientConfig{})
	b := bitrix24.NewBatcher(c, 0)
	res, err := b.Do(ctx(t), p.MemberID(), []bitrix24.BatchCommand{
		{Method: "im.notify.system.add", Params: map[string]any{"USER_ID": 1, "MESSAGE": "ok"}},
		{Method: "im.notify.system.add", Params: map[string]any{"USER_ID": 1}}, // MESSAGE missing
		{Method: "crm.timeline.comment.add", Params: map[string]any{"fields": map[string]any{"ENTITY_ID": 999, "ENTITY_TYPE": "deal", "COMMENT": "x"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || !bitrix24.IsCode(res[1].Err, "MESSAGE_EMPTY") || !bitrix24.IsCode(res[2].Err, bitrix24.ErrCodeOwnerNotFound) {
		t.Fatalf("results: %v / %v / %v", res[0].Err, res[1].Err, res[2].Err)
	}
	if n := len(p.Notifications()); n != 1 {
		t.Fatalf("%d notifications, want 1", n)
	}
}

// Reference §7: upload endpoints are refused inside batch, which is why Signet uploads files one by one.
func TestEmulatorRefusesUploadInsideBatch(t *testing.T) {
	p, c, _ := setup(t, emulator.Config{}, bitrix24.ClientConfig{})
	res, err := c.Batch(ctx(t), p.MemberID(), []bitrix24.BatchCommand{{Method: "upload"}}, false)
	if err != nil || !bitrix24.IsCode(res[0].Err, bitrix24.ErrCodeBatchMethodNotAllowed) {
		t.Fatalf("upload in batch: %v %v", err, res[0].Err)
	}
}

// Reference §3.2 and §10: registering twice adds the robot once, then updates it; the placement is
// bound once. Every robot property and return value of the contract is registered.
func TestRegisterRobotAndPlacementIdempotent(t *testing.T) {
	p, c, _ := setup(t, emulator.Config{}, bitrix24.ClientConfig{})
	fields := map[string]any{"HANDLER": "http://signet.example.com/bitrix24/robot", "AUTH_USER_ID": 1, "USE_SUBSCRIPTION": "Y",
		"NAME": map[string]any{"en": "Sign PDF"}, "PROPERTIES": map[string]any{"document": map[string]any{"Name": "Document", "Type": "string"}}}
	added, err := c.RegisterRobot(ctx(t), p.MemberID(), "signet_sign_pdf", fields)
	if err != nil || !added {
		t.Fatalf("first register: added=%v %v", added, err)
	}
	fields["HANDLER"] = "http://signet2.example.com/bitrix24/robot"
	added, err = c.RegisterRobot(ctx(t), p.MemberID(), "signet_sign_pdf", fields)
	if err != nil || added {
		t.Fatalf("second register must update: added=%v %v", added, err)
	}
	r := p.Robots()["signet_sign_pdf"]
	if len(p.Robots()) != 1 || r["HANDLER"] != "http://signet2.example.com/bitrix24/robot" {
		t.Fatalf("robots after two registrations: %v", p.Robots())
	}
	for i := range 2 {
		bound, err := c.BindPlacement(ctx(t), p.MemberID(), "CRM_DEAL_DETAIL_TOOLBAR", "http://signet.example.com/bitrix24/placement", "Sign", nil)
		if err != nil || bound != (i == 0) {
			t.Fatalf("bind %d: bound=%v %v", i, bound, err)
		}
	}
	if h := p.Placements()["CRM_DEAL_DETAIL_TOOLBAR"]; len(h) != 1 {
		t.Fatalf("placements: %v", p.Placements())
	}
}

// Reference §9.3: in incoming-webhook mode calls go to /rest/<user>/<code>/<method> without an OAuth
// token, and robots or placements cannot be registered.
func TestWebhookMode(t *testing.T) {
	p, _, _ := setup(t, emulator.Config{}, bitrix24.ClientConfig{})
	hook := p.AddWebhook(emulator.AdminUserID)
	c := bitrix24.NewClient(bitrix24.ClientConfig{WebhookURL: hook, AllowPrivate: true}, bitrix24.NewMemoryTokenStore())
	p.AddDealFile(5, "a.pdf", []byte("%PDF-1.4\n"))
	if err := c.Call(ctx(t), "any-member", "crm.timeline.comment.add", map[string]any{"fields": map[string]any{"ENTITY_ID": 5, "ENTITY_TYPE": "deal", "COMMENT": "hi"}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := p.TimelineComments(5); len(got) != 1 {
		t.Fatalf("comments: %v", got)
	}
	if _, err := c.RegisterRobot(ctx(t), "any-member", "signet_sign_pdf", map[string]any{}); !errors.Is(err, bitrix24.ErrWebhookMode) {
		t.Fatalf("robot registration in webhook mode: %v", err)
	}
	if _, err := c.BindPlacement(ctx(t), "any-member", "CRM_DEAL_DETAIL_TOOLBAR", "http://x.example.com/", "Sign", nil); !errors.Is(err, bitrix24.ErrWebhookMode) {
		t.Fatalf("placement in webhook mode: %v", err)
	}
	if strings.Contains(bitrix24.ErrWebhookMode.Error(), hook) {
		t.Fatal("error text carries the webhook URL")
	}
}

// A caller that gives up while its commands still wait behind another request in flight gets an
// error wrapping ErrBatchNotExecuted (safe to send again), and the portal never runs them.
func TestBatcherWithdrawsCommandsOfCallersThatGaveUp(t *testing.T) {
	p, c, _ := setup(t, emulator.Config{}, bitrix24.ClientConfig{})
	b := bitrix24.NewBatcher(c, 0)
	p.SetFailure(emulator.Failure{Delay: 2 * time.Second, DelayCalls: 1}) // the first request's answer is held
	first := make(chan error, 1)
	go func() {
		_, err := b.Do(ctx(t), p.MemberID(), []bitrix24.BatchCommand{{Method: "im.notify.system.add", Params: map[string]any{"USER_ID": 1, "MESSAGE": "first", "TAG": "a"}}})
		first <- err
	}()
	time.Sleep(300 * time.Millisecond) // the first request is in flight now
	short, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
	defer cancel()
	_, err := b.Do(short, p.MemberID(), []bitrix24.BatchCommand{{Method: "im.notify.system.add", Params: map[string]any{"USER_ID": 1, "MESSAGE": "gave up", "TAG": "b"}}})
	if !errors.Is(err, bitrix24.ErrBatchNotExecuted) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a withdrawn command: %v, want ErrBatchNotExecuted and the deadline", err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the Batcher would have sent anything still queued by now
	for _, n := range p.Notifications() {
		if n.Message == "gave up" {
			t.Fatal("the portal ran a command whose caller had given up while it was queued")
		}
	}
}
