package worker

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/text/language"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/jobkey"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/i18ntext"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/storage"
)

// Issue 18, must 3: a robot that gives Signet a file that is not a PDF hears why in its portal's
// language: errorText and outcomeReason, the workflow's log and the requester's notification are
// Russian on a Russian portal, with no English sentence, and English on an English one; the English
// Go error stays the operator's (the dead letter's reason). Real parts: the emulated portal,
// JetStream, a SoftHSM key, the worker pool with its callback worker.
func TestNonPDFFailureInThePortalsLanguage(t *testing.T) {
	for _, lang := range []string{"ru", "en"} {
		t.Run(lang, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			l := i18n.New(lang)
			mod, pinFile := testToken(t, "kinds")
			kr, err := keyring.Open(ctx, []keyring.TokenConfig{{Name: "kinds", Module: mod, Label: "kinds", PinFile: pinFile, MaxSessions: 2}}, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = kr.Close() })
			cred, err := kr.GenerateSelfSigned(ctx, "kinds", "mary", "CN=Mary,O=Signet test", keyring.KeyType("p256"), 30)
			if err != nil {
				t.Fatal(err)
			}

			portal := startPortal(t, emulator.Config{Language: lang})
			client := adminClient(ctx, t, portal, bitrix24.ClientConfig{})
			ns := natstest.Start(t)
			if err := queue.Provision(ctx, ns.JS, queue.Settings{Replicas: 1, AckWait: 5 * time.Second, MaxDeliver: 3, MaxAckPending: 16}); err != nil {
				t.Fatal(err)
			}
			reg, err := portals.Open(ctx, ns.JS, 1, newGCMSealer(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := reg.Store(ctx, portals.Portal{Auth: portal.NewAuth(emulator.AdminUserID), Installed: time.Now(), Language: lang}, 0); err != nil {
				t.Fatal(err)
			}
			results, store := resultsAndStore(ctx, t, ns.JS, t.TempDir(), storage.Options{PublicURL: "http://signet.test",
				LinkSecret: []byte("0123456789abcdef0123456789abcdef")})
			intake, err := jobkey.Generate(time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			log := zaptest.NewLogger(t)
			runPool(ctx, t, &Pool{JS: ns.JS, Interactive: 1, Batch: 1, Callbacks: 1, AckWait: 5 * time.Second, MaxDeliver: 3, Log: log,
				Signer: &Signer{Keys: kr, Portal: client, Store: store, Results: results, TempDir: t.TempDir(), MaxPDFBytes: 10 << 20,
					Log: log, JobKeys: contracts.NewJobKeys(intake.Public())},
				Caller: &Caller{Portal: client, Store: store, Results: results, LinkTTL: time.Hour, Log: log, Portals: reg}})

			// The robot's call goes to a handler that stands in for the intake: the job carries its
			// real, waiting event_token.
			sink := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			t.Cleanup(sink.Close)
			disk, _ := portal.AddDealFile(1188, "contract.docx", []byte("PK\x03\x04 a Word document, not a PDF"))
			tok, status, err := portal.RobotCall(ctx, sink.URL, "signet_sign_pdf", 1188, nil)
			if err != nil || status != http.StatusOK {
				t.Fatalf("robot call: %d, %v", status, err)
			}
			job := &contracts.SignJob{ID: "not-pdf-" + lang, Kind: contracts.KindRobot, Created: time.Now().UTC(), Language: lang,
				Portal:     contracts.Portal{MemberID: portal.MemberID()},
				Document:   contracts.Document{DiskFileID: disk, EntityTypeID: 2, EntityID: 1188},
				Signer:     contracts.Signer{Login: "mary", BitrixUserID: 1, Authorization: "otp"},
				Credential: cred.URI,
				Reply:      contracts.Reply{EventToken: tok, WorkflowID: "wf-1", NotifyUserID: 1}}
			intake.Sign(job, time.Now())
			data, err := job.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ns.JS.PublishMsg(ctx, &nats.Msg{Subject: contracts.SubjectSignInteractive, Data: data,
				Header: nats.Header{contracts.HeaderMsgID: []string{job.ID}}}); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the workflow told and the requester notified", func() bool {
				return len(portal.EventsSent()[tok]) == 1 && len(portal.Notifications()) == 1
			})

			want := l.T("failure.not_pdf")
			ret := portal.EventsSent()[tok][0]
			if ret[RetErrorText] != want || ret[RetOutcomeReason] != want || ret[RetOutcome] != "failed" {
				t.Errorf("return values %v; want errorText and outcomeReason %q", ret, want)
			}
			logs := portal.LogMessages()[tok]
			if len(logs) != 1 || logs[0] != l.T("callback.log.failed", want) {
				t.Errorf("workflow log %q, want %q", logs, l.T("callback.log.failed", want))
			}
			note := portal.Notifications()[0]
			if note.UserID != 1 || !strings.Contains(note.Message, want) {
				t.Errorf("notification %+v, want one to user 1 saying %q", note, want)
			}
			if lang == "ru" {
				for _, s := range []string{ret[RetErrorText].(string), logs[0], note.Message} {
					left, err := i18ntext.Foreign(i18n.For(language.Russian), []byte("<p>"+html.EscapeString(s)+"</p>"), fileName(&contracts.Callback{}))
					if err != nil {
						t.Fatal(err)
					}
					if len(left) > 0 {
						t.Errorf("the Russian portal reads words not in the Russian catalogue: %v", left)
					}
				}
			}
			// The operator's copy keeps the English detail.
			dead, err := ns.JS.Stream(ctx, contracts.StreamDead)
			if err != nil {
				t.Fatal(err)
			}
			m, err := dead.GetLastMsgForSubject(ctx, contracts.SubjectDeadAll)
			if err != nil {
				t.Fatal(err)
			}
			if reason := m.Header.Get(contracts.HeaderReason); !strings.Contains(reason, "not a PDF") {
				t.Errorf("the dead letter's reason %q lost the English detail", reason)
			}
		})
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
