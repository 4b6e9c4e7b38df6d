package producer

import (
	"context"
	"html"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/text/language"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/reasons"
	"github.com/signet-b24/signet/internal/testsupport/i18ntext"
	"github.com/signet-b24/signet/producer/identity"
)

// Issue 18, must 3 at the intake: each kind of refusal a robot call can meet reaches the callback
// worker as its kind (contracts.Failure, the same set as the worker's failures) with the intake's
// catalogue words (Reason, Args), which say in the portal's language what the workflow is told
// (the callback's Error): Russian words on a Russian portal, with no English sentence, English on an
// English one.
func TestIntakeRefusalsCarryTheirKind(t *testing.T) {
	for _, lang := range []string{"ru", "en"} {
		t.Run(lang, func(t *testing.T) {
			f := newInstallFixture(t, emulator.Config{Language: lang})
			f.withBitrix(t)
			f.install(t)
			f.addSigner(t, true)
			ctx := context.Background()
			for _, u := range []identity.User{
				{Login: "john", BitrixIDs: map[string]int{f.portal.MemberID(): 8}, Credentials: []string{cred}}, // OTP, not enrolled
				{Login: "ann", BitrixIDs: map[string]int{f.portal.MemberID(): 9}, OTPDisabled: true, Credentials: []string{cred}, Disabled: true},
			} {
				if err := f.id.AddUser(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			with := func(k, v string) map[string]any { p := f.props("9"); p[k] = v; return p }
			robot := f.srv.URL + "/bitrix24/robot"
			l := i18n.New(lang)
			for i, c := range []struct {
				kind     contracts.FailureKind
				code     string
				props    map[string]any
				property string
			}{
				{contracts.FailureURLOutsidePortal, "signet_sign_pdf", f.props("https://evil.example.com/x.pdf"), PropDocument},
				{contracts.FailureUnknownSigner, "signet_sign_pdf", with(PropSigner, "user_99"), ""},
				{contracts.FailureSignerDisabled, "signet_sign_pdf", with(PropSigner, "user_9"), ""},
				{contracts.FailureNotEnrolled, "signet_sign_pdf", with(PropSigner, "user_8"), ""},
				{contracts.FailureCredentialUnknown, "signet_sign_pdf", with(PropCredential, "no-such-certificate"), PropCredential},
				{contracts.FailureCredentialNotMapped, "signet_sign_pdf", with(PropCredential, "pkcs11:token=other;object=ceo"), ""},
				{contracts.FailureWrongRobot, "someone_else", f.props("9"), ""},
				{contracts.FailureInvalidProperty, "signet_sign_pdf", with(PropPosition, "middle"), PropPosition},
				{contracts.FailureInvalidProperty, "signet_sign_pdf", with(PropCredential, cred+"?pin-value=1234"), PropCredential},
			} {
				tok, status, err := f.portal.RobotCall(ctx, robot, c.code, 200+i, c.props)
				if err != nil || status != http.StatusUnprocessableEntity {
					t.Fatalf("%s: status %d, %v; want 422", c.kind, status, err)
				}
				cb, err := contracts.DecodeCallback(lastMsg(t, f.js, contracts.StreamCallback, contracts.SubjectCallback))
				if err != nil {
					t.Fatal(err)
				}
				fl := cb.Failure
				if cb.Reply.EventToken != tok || fl == nil || fl.Kind != c.kind || fl.Property != c.property || !fl.Kind.Known() {
					t.Errorf("%s: the callback carries %+v (property %q); want kind %s, property %q", c.kind, fl, fl.Property, c.kind, c.property)
					continue
				}
				if !strings.HasPrefix(fl.Reason, "refusal.") || !i18n.Has(fl.Reason) {
					t.Errorf("%s: reason %q is not a refusal's catalogue key", c.kind, fl.Reason)
					continue
				}
				words := reasons.Text(l, fl, "", "", "") // as the worker words it for the workflow
				if words != cb.Error {
					t.Errorf("%s: the kind's words %q are not what the workflow is told, %q", c.kind, words, cb.Error)
				}
				if strings.Contains(cb.Error, "1234") || strings.Contains(strings.Join(fl.Args, " "), "1234") {
					t.Errorf("%s: the refusal repeats a secret: %q %v", c.kind, cb.Error, fl.Args)
				}
				if lang == "ru" {
					left, err := i18ntext.Foreign(i18n.For(language.Russian), []byte("<p>"+html.EscapeString(words)+"</p>"), append(fl.Args, fl.Property)...)
					if err != nil {
						t.Fatal(err)
					}
					if len(left) > 0 {
						t.Errorf("%s: the Russian portal reads words not in the Russian catalogue: %v", c.kind, left)
					}
				}
			}
		})
	}
}
