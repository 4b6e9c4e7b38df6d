package main

// Issue 15, found 11: a 1 MB object-stream bomb sent through twelve robot calls pushed `signet
// serve` to 1.07 GB RSS. Through the whole pipeline now, every bomb ends in bizproc.event.send
// signed=N with the never-will-work error, nothing is signed or sent back to the portal, and the
// heap stays bounded.

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/internal/testsupport/pdfgen"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/producer"
)

func TestAttackBombsThroughRobotCalls(t *testing.T) {
	e := startB24(t, emulator.Config{})
	demo := e.cfg.Demo.Credential
	e.addUser(t, "bob", 8, true, demo)
	bomb, contentBomb := pdfgen.Bomb(320), pdfgen.ContentBomb(320)

	type call struct {
		deal, file int
		props      map[string]any
	}
	var calls []call
	for i := range 12 {
		file, _ := e.portal.AddDealFile(600+i, "bomb.pdf", bomb)
		calls = append(calls, call{600 + i, file, robotProps(strconv.Itoa(file), "user_8", demo)})
	}
	// With evidence=Y the document is handed to pdfcpu, which decodes page content: the census
	// refuses a content stream that inflates to 320 MB before pdfcpu sees it.
	file, _ := e.portal.AddDealFile(700, "content-bomb.pdf", contentBomb)
	ev := robotProps(strconv.Itoa(file), "user_8", demo)
	ev[producer.PropEvidence] = "Y"
	calls = append(calls, call{700, file, ev})

	tokens := make([]string, len(calls))
	var sent map[string][]map[string]any
	peak := testenv.PeakHeap(func() {
		for i, c := range calls {
			tokens[i] = e.robot(t, c.deal, c.props)
		}
		sent = e.waitEvents(t, tokens, 2*time.Minute)
	})

	for i, c := range calls {
		ret := sent[tokens[i]]
		if len(ret) != 1 {
			t.Errorf("deal %d: %d event.send, want 1", c.deal, len(ret))
			continue
		}
		msg, _ := ret[0]["errorText"].(string)
		if ret[0]["signed"] != "N" || !strings.Contains(msg, "expands to more than") || !strings.Contains(msg, "when decoded") {
			t.Errorf("deal %d: signed=%v errorText=%q, want signed=N and the decoding limit", c.deal, ret[0]["signed"], msg)
		}
		if v := e.portal.FileVersions(c.file); len(v) != 1 {
			t.Errorf("deal %d: the Disk file has %d versions; nothing may be sent back", c.deal, len(v))
		}
	}
	t.Logf("twelve object-stream bombs and a content bomb with evidence: peak heap %d MiB above the start", peak>>20)
	// Before the budgets the twelve bombs alone took over a gigabyte; now each is refused after
	// counting what it inflates to, without keeping it.
	if peak > 300<<20 {
		t.Errorf("a peak of %d MiB of heap while refusing the bombs", peak>>20)
	}
	if msg, _ := sent[tokens[0]][0]["errorText"].(string); msg != "" {
		t.Logf("errorText: %s", msg)
	}
}
