package worker

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/storage"
)

// gcmSealer seals the portal registry's tokens with AES-256-GCM, as identity.Keys does in `signet
// serve` (the worker may not import the producer's identity, docs/architecture.md).
// Seal's result is JSON, as the registry's record wants.
type gcmSealer struct{ aead cipher.AEAD }

func newGCMSealer(t *testing.T) gcmSealer {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return gcmSealer{g}
}

func (s gcmSealer) Seal(plain []byte, aad string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return json.Marshal(s.aead.Seal(nonce, nonce, plain, []byte(aad))) // the registry stores JSON: a base64 string
}

func (s gcmSealer) Open(raw []byte, aad string) ([]byte, error) {
	var data []byte
	if err := json.Unmarshal(raw, &data); err != nil {
		return nil, err
	}
	n := s.aead.NonceSize()
	if len(data) < n {
		return nil, errors.New("sealed data too short")
	}
	return s.aead.Open(nil, data[:n], data[n:], []byte(aad))
}

// The timeline comment, the workflow log message and the failure notification reach the portal in
// the language recorded for it at install (issue 18, must 2 and 3), English when none was; the
// comment keeps the language-neutral mark by which a redelivery finds it.
func TestCallbackMessagesInThePortalsLanguage(t *testing.T) {
	for _, tc := range []struct {
		recorded                        string
		comment, logOK, logFail, notify string
		zone, time                      string // the job's zone, and the signing time the comment shows in it
	}{
		{"ru", "Документ invoice.pdf подписан пользователем mary", "Подписано: mary", "Не подписано: the token is locked", "Signet не смог подписать invoice.pdf",
			"Europe/Moscow", "03.12.2026 10:51 (UTC+03:00)"},
		{"ua", "Документ invoice.pdf подписан пользователем mary", "Подписано: mary", "Не подписано: the token is locked", "Signet не смог подписать invoice.pdf",
			"", "03.12.2026 07:51 (UTC+00:00)"},
		{"", "Document invoice.pdf signed by mary", "Signed by mary", "Not signed: the token is locked", "Signet could not sign invoice.pdf",
			"Asia/Yekaterinburg", "at 3 Dec 2026 12:51 UTC+5."},
	} {
		t.Run("portal language "+tc.recorded, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			portal := emulator.New(emulator.Config{Language: tc.recorded})
			if _, err := portal.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = portal.Close() })
			ns := natstest.Start(t)
			reg, err := portals.Open(ctx, ns.JS, 1, newGCMSealer(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := reg.Store(ctx, portals.Portal{Auth: portal.NewAuth(emulator.AdminUserID), Installed: time.Now(), Language: tc.recorded}, 0); err != nil {
				t.Fatal(err)
			}
			client := bitrix24.NewClient(bitrix24.ClientConfig{ClientID: portal.ClientID(), ClientSecret: portal.ClientSecret(),
				OAuthURL: portal.OAuthURL(), AllowPrivate: true, HTTPClient: &http.Client{Timeout: 10 * time.Second}}, reg)
			results, store := resultsAndStore(ctx, t, ns.JS, "", storage.Options{PublicURL: "https://signet.example.com",
				LinkSecret: []byte("0123456789abcdef0123456789abcdef")})
			if _, err := store.Put(ctx, "signed/test.pdf", bytes.NewReader([]byte("%PDF-1.7 signed")), 15, "application/pdf", ""); err != nil {
				t.Fatal(err)
			}
			caller := &Caller{Portal: client, Store: store, Results: results, LinkTTL: time.Hour, Log: zap.NewNop(), Portals: reg}

			okTok, _ := portal.NewRobotCall("signet_sign_pdf", 501, nil)
			signed := &contracts.Callback{JobID: "job-ok", Kind: contracts.KindRobot, Portal: contracts.Portal{MemberID: portal.MemberID()},
				Document: contracts.Document{EntityTypeID: 2, EntityID: 501, FileName: "invoice.pdf"},
				Signer:   contracts.Signer{Login: "mary"}, Reply: contracts.Reply{EventToken: okTok},
				Outcome: contracts.OutcomeSigned, TimeZone: tc.zone,
				Signed: &contracts.Signed{PDFKey: "signed/test.pdf", SHA256After: "ab12", CertificateSubject: "CN=Mary", CertificateSerial: "7",
					SignedAt: time.Date(2026, 12, 3, 7, 51, 30, 0, time.UTC), AuditID: "a-1"}}
			if err := caller.Deliver(ctx, signed, false); err != nil {
				t.Fatal(err)
			}
			comments := portal.TimelineComments(501)
			if len(comments) != 1 || !strings.HasPrefix(comments[0].Comment, tc.comment) || !strings.Contains(comments[0].Comment, commentMark("job-ok")) {
				t.Fatalf("timeline comments %+v; want one starting %q with %q", comments, tc.comment, commentMark("job-ok"))
			}
			if !strings.Contains(comments[0].Comment, tc.time) {
				t.Errorf("the comment %q does not show the signing time as %q", comments[0].Comment, tc.time)
			}
			if strings.Contains(comments[0].Comment, "%!") || !strings.Contains(comments[0].Comment, "a-1.") {
				t.Errorf("comment badly formatted: %q", comments[0].Comment)
			}
			if found, err := caller.commentExists(ctx, signed); err != nil || !found {
				t.Errorf("a redelivery does not find its comment: %v %v", found, err)
			}
			if logs := portal.LogMessages()[okTok]; len(logs) != 1 || !strings.HasPrefix(logs[0], tc.logOK) {
				t.Errorf("workflow log %q, want %q…", logs, tc.logOK)
			}

			failTok, _ := portal.NewRobotCall("signet_sign_pdf", 502, nil)
			failed := &contracts.Callback{JobID: "job-fail", Kind: contracts.KindRobot, Portal: contracts.Portal{MemberID: portal.MemberID()},
				Document: contracts.Document{EntityTypeID: 2, EntityID: 502, FileName: "invoice.pdf"},
				Reply:    contracts.Reply{EventToken: failTok, NotifyUserID: 7},
				Outcome:  contracts.OutcomeFailed, Error: "the token is locked"}
			if err := caller.Deliver(ctx, failed, false); err != nil {
				t.Fatal(err)
			}
			if logs := portal.LogMessages()[failTok]; len(logs) != 1 || logs[0] != tc.logFail {
				t.Errorf("workflow log %q, want %q", logs, tc.logFail)
			}
			n := portal.Notifications()
			if len(n) != 1 || n[0].UserID != 7 || !strings.HasPrefix(n[0].Message, tc.notify) {
				t.Errorf("notifications %+v, want one to user 7 starting %q", n, tc.notify)
			}
		})
	}
}
