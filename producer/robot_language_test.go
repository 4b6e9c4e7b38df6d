package producer

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
)

// Issue 18, must 3 and 4 at the intake: a refused robot call tells its workflow why in the portal's
// language (Russian to a ru portal, English to an en one, the same catalogue's words); an accepted one
// queues a job carrying the portal's language and the signer's Bitrix24 TIME_ZONE, or
// signing.time_zone for a signer who chose none.
func TestRobotSpeaksThePortalsLanguage(t *testing.T) {
	cases := []struct {
		lang                        string
		position, signer, code, pin string
		zoneOf7, wantZone           string
	}{
		{"ru", "свойство робота «position»: должно быть одно из значений: top-left", "подписант user_99 не является пользователем Signet",
			"код робота «someone_else» не совпадает с кодом робота Signet «signet_sign_pdf»", "PIN в URI PKCS#11 (pin-value) не принимается",
			"Asia/Yekaterinburg", "Asia/Yekaterinburg"},
		{"en", `robot property "position": must be one of top-left`, "signer user_99 is not a Signet user",
			`robot code "someone_else" is not Signet's robot "signet_sign_pdf"`, "a PIN in a PKCS#11 URI (pin-value) is not accepted",
			"", "Europe/Moscow"},
	}
	for _, c := range cases {
		t.Run(c.lang, func(t *testing.T) {
			f := newInstallFixture(t, emulator.Config{Language: c.lang, TimeZones: map[int]string{7: c.zoneOf7}})
			f.withBitrix(t)
			f.in.TimeZone = "Europe/Moscow" // signing.time_zone
			f.install(t)
			f.addSigner(t, true)
			robot := f.srv.URL + "/bitrix24/robot"
			refusals := map[string]struct {
				code  string
				props map[string]any
			}{
				c.position: {"signet_sign_pdf", func() map[string]any { p := f.props("9"); p[PropPosition] = "middle"; return p }()},
				c.signer:   {"signet_sign_pdf", func() map[string]any { p := f.props("9"); p[PropSigner] = "user_99"; return p }()},
				c.code:     {"someone_else", f.props("9")},
				c.pin:      {"signet_sign_pdf", func() map[string]any { p := f.props("9"); p[PropCredential] = cred + "?pin-value=1234"; return p }()},
			}
			i := 0
			for want, r := range refusals {
				i++
				tok, status, err := f.portal.RobotCall(context.Background(), robot, r.code, 100+i, r.props)
				if err != nil || status != http.StatusUnprocessableEntity {
					t.Fatalf("%s: status %d, %v; want 422", want, status, err)
				}
				cb, err := contracts.DecodeCallback(lastMsg(t, f.js, contracts.StreamCallback, contracts.SubjectCallback))
				if err != nil {
					t.Fatal(err)
				}
				if cb.Reply.EventToken != tok || !strings.Contains(cb.Error, want) {
					t.Errorf("the workflow is told %q, want %q", cb.Error, want)
				}
			}

			_, status, err := f.portal.RobotCall(context.Background(), robot, "signet_sign_pdf", 1188, f.props("42"))
			if err != nil || status != http.StatusOK {
				t.Fatalf("robot call: %d, %v", status, err)
			}
			job, err := contracts.DecodeSignJob(lastMsg(t, f.js, contracts.StreamSign, contracts.SubjectSignInteractive))
			if err != nil {
				t.Fatal(err)
			}
			if job.Language != c.lang || job.TimeZone != c.wantZone {
				t.Errorf("job language %q, zone %q; want %q, %q", job.Language, job.TimeZone, c.lang, c.wantZone)
			}
			if err := contracts.NewJobKeys(f.in.JobKey.Public()).Verify(job, f.in.now()); err != nil {
				t.Errorf("the job's signature does not cover its language and zone: %v", err)
			}
		})
	}
}

// The Sign dialog's job takes the language of the person at the dialog (LANG of the placement
// request) and the signer's zone; its refusals are in that language too.
func TestSignDialogJobInTheViewersLanguage(t *testing.T) {
	for _, otpOff := range []bool{false, true} {
		f := newInstallFixture(t, emulator.Config{Language: "ru", TimeZones: map[int]string{7: "Europe/Moscow"}})
		f.withBitrix(t)
		f.install(t)
		f.addSigner(t, otpOff)
		_, _ = f.portal.AddDealFile(43, "contract.pdf", []byte("%PDF-1.4"))
		page, hidden := openForm(t, f, 7, 43)
		st, out := submit(t, f, url.Values{"ctx": {hidden["ctx"]}, "csrf": {hidden["csrf"]}, "document": {optionRe.FindStringSubmatch(page)[1]},
			"credential": {cred}, "otp": {"123456"}, "visible": {"Y"}, "page": {"last"}, "position": {"bottom-left"}})
		if !otpOff {
			if want := "подписант mary ещё не подключил"; st != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(out["error"]), want) {
				t.Errorf("refusal: HTTP %d %v, want %q", st, out, want)
			}
			continue
		}
		if st != http.StatusAccepted {
			t.Fatalf("submit: HTTP %d %v", st, out)
		}
		job, err := contracts.DecodeSignJob(lastMsg(t, f.js, contracts.StreamSign, contracts.SubjectSignInteractive))
		if err != nil {
			t.Fatal(err)
		}
		if job.Language != "ru" || job.TimeZone != "Europe/Moscow" {
			t.Errorf("Sign dialog job: language %q, zone %q; want ru, Europe/Moscow", job.Language, job.TimeZone)
		}
	}
}
