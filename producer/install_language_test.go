package producer

import (
	"context"
	"net/http"
	"testing"

	"golang.org/x/text/language"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/internal/i18n"
)

// The robot registration and the Sign button reach the portal in both languages (issue 18, must 5):
// a Russian reader and an English reader of the same portal each see their own NAME, DESCRIPTION,
// property names and button title, read back through the portal's own choice of text
// (emulator.RobotText follows the core's getLocalization). The select options, which Bitrix24 does
// not localize, and the recorded portal language follow the portal: LANG of the installation page,
// then LANGUAGE_ID of ONAPPINSTALL.
func TestRegistrationInBothLanguages(t *testing.T) {
	for _, portalLang := range []string{"ru", "en"} {
		t.Run(portalLang, func(t *testing.T) {
			f := newInstallFixture(t, emulator.Config{Admins: []int{5}, Language: portalLang})
			if resp, body := f.openInstallPage(t, 5); resp.StatusCode != http.StatusOK {
				t.Fatalf("installation page: %d\n%s", resp.StatusCode, body)
			}
			if got := f.stored(t).Language; got != portalLang {
				t.Fatalf("portal language after the installation page: %q, want LANG %q", got, portalLang)
			}
			const code = "signet_sign_pdf"
			ru, en := i18n.For(language.Russian), i18n.For(language.English)
			for _, reader := range []struct {
				lang string
				l    *i18n.Localizer
			}{{"ru", ru}, {"en", en}, {"ua", ru}, {"de", en}} {
				if got, want := f.portal.RobotText(code, "NAME", reader.lang), reader.l.T("robot.name"); got != want {
					t.Errorf("NAME for %s: %q, want %q", reader.lang, got, want)
				}
				if got, want := f.portal.RobotText(code, "DESCRIPTION", reader.lang), reader.l.T("robot.description"); got != want {
					t.Errorf("DESCRIPTION for %s: %q, want %q", reader.lang, got, want)
				}
				for group, keys := range map[string]map[string]string{
					"PROPERTIES": {PropDocument: "robot.prop.document", PropSigner: "robot.prop.signer", PropCredential: "robot.prop.credential",
						PropOTP: "robot.prop.otp", PropVisible: "robot.prop.visible", PropPage: "robot.prop.page", PropPosition: "robot.prop.position",
						PropReason: "robot.prop.reason", PropEvidence: "robot.prop.evidence"},
					"RETURN_PROPERTIES": {"signed": "robot.ret.signed", "signedFileUrl": "robot.ret.signedFileUrl", "documentSha256": "robot.ret.documentSha256",
						"certificateSubject": "robot.ret.certificateSubject", "certificateSerial": "robot.ret.certificateSerial",
						"signedAt": "robot.ret.signedAt", "errorText": "robot.ret.errorText"},
				} {
					for prop, key := range keys {
						if got, want := f.portal.RobotPropertyText(code, group, prop, "Name", reader.lang), reader.l.T(key); got != want || got == "" {
							t.Errorf("%s %s Name for %s: %q, want %q", group, prop, reader.lang, got, want)
						}
					}
				}
				if got, want := f.portal.RobotPropertyText(code, "PROPERTIES", PropDocument, "Description", reader.lang),
					reader.l.T("robot.prop.document.description"); got != want {
					t.Errorf("document Description for %s: %q, want %q", reader.lang, got, want)
				}
				// A reader of a language LANG_ALL lacks sees TITLE, which is in the portal's language.
				title := reader.l.T("placement.sign.title")
				if reader.lang != "ru" && reader.lang != "en" {
					title = i18n.New(portalLang).T("placement.sign.title")
				}
				if got, want := f.portal.PlacementTitle(PlacementToolbar, f.srv.URL+"/bitrix24/placement", reader.lang), title; got != want {
					t.Errorf("Sign button for %s: %q, want %q", reader.lang, got, want)
				}
			}
			if ru.T("robot.name") == en.T("robot.name") {
				t.Fatal("the Russian and English robot names are the same: the test proves nothing")
			}
			// Every robot property and return property has a name in both languages.
			fields := f.portal.Robots()[code]
			for _, group := range []string{"PROPERTIES", "RETURN_PROPERTIES"} {
				props, _ := fields[group].(map[string]any)
				if len(props) == 0 {
					t.Fatalf("%s not registered", group)
				}
				for k := range props {
					if f.portal.RobotPropertyText(code, group, k, "Name", "ru") == f.portal.RobotPropertyText(code, group, k, "Name", "en") {
						t.Errorf("%s %s: the same name in ru and en", group, k)
					}
					// Every property the designer fills in has a description in both (issue 19, must 4).
					ruD, enD := f.portal.RobotPropertyText(code, group, k, "Description", "ru"), f.portal.RobotPropertyText(code, group, k, "Description", "en")
					if group == "PROPERTIES" && (ruD == "" || enD == "" || ruD == enD) {
						t.Errorf("%s %s: description ru %q, en %q", group, k, ruD, enD)
					}
				}
			}
			// The return values a designer branches on (issue 19, must 4).
			for _, k := range []string{"outcome", "outcomeReason", "signedFileId", "signedFileUrl", "signer", "certificateSubject", "documentSource"} {
				if _, ok := fields["RETURN_PROPERTIES"].(map[string]any)[k]; !ok {
					t.Errorf("RETURN_PROPERTIES lack %s", k)
				}
			}
			if req, _ := fields["PROPERTIES"].(map[string]any)[PropCredential].(map[string]any)["Required"]; req != "N" {
				t.Errorf("credential Required=%v; it is optional (the signer's default)", req)
			}
			// Select options are plain text in the portal's language.
			page, _ := fields["PROPERTIES"].(map[string]any)[PropPage].(map[string]any)
			opts, _ := page["Options"].(map[string]any)
			if want := i18n.New(portalLang).T("robot.prop.page.last"); opts["last"] != want {
				t.Errorf("page options %v, want last=%q", opts, want)
			}
			if st, err := f.portal.InstallWithoutTokens(context.Background(), f.srv.URL+"/bitrix24/install"); err != nil || st != http.StatusOK {
				t.Fatalf("token-less ONAPPINSTALL: %d %v", st, err)
			}
			if got := f.stored(t).Language; got != portalLang {
				t.Errorf("portal language after ONAPPINSTALL: %q, want LANGUAGE_ID %q", got, portalLang)
			}
		})
	}
}
