package main

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/signet-b24/signet/bitrix24/emulator"
)

// TestAttackRepeatedOTPCallEndToEnd (issue 15, found 5): a robot call with the signer's OTP, delivered
// three times (the queue server re-sending, two of them at once), through the whole process (intake,
// NATS, a worker with the SoftHSM key, the callback worker): the document is signed once, and the
// workflow gets exactly one bizproc.event.send, signed=Y. Before the fix the repeats' refusal ("code
// already used") took the callback's message id and the workflow was told signed=N.
func TestAttackRepeatedOTPCallEndToEnd(t *testing.T) {
	e := startB24(t, emulator.Config{})
	e.addUser(t, "mary", 7, false, e.cfg.Demo.Credential)
	secret := e.enrol(t, "mary")
	file, _ := e.portal.AddDealFile(601, "invoice.pdf", demoInvoice)
	code, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second)) // the enrolment used this step
	if err != nil {
		t.Fatal(err)
	}
	props := robotProps(strconv.Itoa(file), "user_7", e.cfg.Demo.Credential)
	props["otp"] = code
	url := e.cfg.PublicURL + "/bitrix24/robot"
	tok, deliver := e.portal.NewRobotCall(e.cfg.Bitrix24.RobotCode, 601, props)
	st := make([]int, 3)
	done := make(chan struct{})
	for i := range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			var derr error
			if st[i], derr = deliver(context.Background(), url); derr != nil {
				t.Error(derr)
			}
		}()
	}
	<-done
	<-done
	e.waitEvents(t, []string{tok}, 2*time.Minute)
	if st[2], err = deliver(context.Background(), url); err != nil { // re-sent after it was signed
		t.Fatal(err)
	}
	t.Logf("copies answered %v", st)
	sent := e.waitEvents(t, []string{tok}, 2*time.Minute)
	time.Sleep(2 * time.Second) // a second (refusal) callback would be delivered by now
	ret := sent[tok]
	if len(ret) != 1 || ret[0]["signed"] != "Y" {
		t.Fatalf("workflow got %v; want exactly one event.send with signed=Y", ret)
	}
	sends := 0
	for _, c := range e.portal.Calls() {
		if c.Method == "bizproc.event.send" {
			sends++
		}
	}
	if sends != 1 {
		t.Fatalf("%d bizproc.event.send calls for one robot call; want 1", sends)
	}
	if v := e.portal.FileVersions(file); len(v) != 2 {
		t.Fatalf("the Disk file has %d versions; want the original and one signed version", len(v))
	}
	for _, s := range st {
		if s != http.StatusOK && s != http.StatusServiceUnavailable {
			t.Fatalf("a copy was answered HTTP %d; want 200 (or 503 while the first is handled)", s)
		}
	}
}
