package producer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/text/language"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/testsupport/i18ntext"
)

// The Sign dialog speaks the language of the person who opened it, LANG of the placement request
// (issue 18, must 1–3): every word of it is a catalogue message of that language (checked as the web
// pages are, internal/testsupport/i18ntext), the position beside the grid is a whole sentence with
// its grammar ("в правом нижнем углу последней страницы"), and the script's words and the status
// polls follow.
func TestPlacementDialogInTheViewersLanguage(t *testing.T) {
	f := dialogFixture(t, "contract")
	for _, c := range []struct {
		lang  string
		tag   language.Tag
		where string
	}{
		{"ru", language.Russian, "В правом нижнем углу последней страницы."},
		{"en", language.English, "In the bottom right corner of the last page."},
		{"ua", language.Russian, "В правом нижнем углу последней страницы."}, // Bitrix24's Ukrainian: Russian, as the portal itself
		{"de", language.English, "In the bottom right corner of the last page."},
	} {
		l := i18n.For(c.tag)
		resp, page := openDialog(t, f, 7, 42, func(r *http.Request) {
			q := r.URL.Query()
			q.Set("LANG", c.lang)
			r.URL.RawQuery = q.Encode()
		})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("LANG=%s: HTTP %d\n%s", c.lang, resp.StatusCode, page)
		}
		if !strings.Contains(page, `<html lang="`+l.Code()+`">`) || !strings.Contains(page, c.where) || !strings.Contains(page, l.T("placement.heading", "42")) {
			t.Errorf("LANG=%s: the dialog is not in %s:\n%s", c.lang, c.tag, page)
		}
		left, err := i18ntext.Foreign(l, []byte(page), "contract.pdf", emulator.DealFileField, "demo-signer (signet-demo)", "mary", "↖", "↑", "↗", "↙", "↓", "↘")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range left {
			t.Errorf("LANG=%s: not from the %s catalogue: %s", c.lang, c.tag, s)
		}
		// The script's sentences for every position and page, and its messages, are the catalogue's.
		for _, p := range Positions {
			for _, pg := range []string{"first", "last"} {
				if want, _ := json.Marshal(l.T("placement.where." + p + "." + pg)); !strings.Contains(page, strings.Trim(string(want), `"`)) {
					t.Errorf("LANG=%s: the dialog's script lacks %s", c.lang, want)
				}
			}
		}
		for _, k := range []string{"sending", "queued", "unreachable", "download"} {
			if !strings.Contains(page, l.T("placement.js."+k)) {
				t.Errorf("LANG=%s: the dialog's script lacks placement.js.%s", c.lang, k)
			}
		}
	}

	// The submission answers and the status polls in the dialog's language.
	_, page := openDialog(t, f, 7, 42, func(r *http.Request) {
		q := r.URL.Query()
		q.Set("LANG", "ru")
		r.URL.RawQuery = q.Encode()
	})
	hidden, docs := dialogFields(page)
	if len(docs) != 1 {
		t.Fatalf("documents %v", docs)
	}
	form := url.Values{"ctx": {hidden["ctx"]}, "csrf": {hidden["csrf"]}, "document": {docs[0][1]}, "credential": {cred},
		"otp": {""}, "visible": {"Y"}, "page": {"last"}, "position": {"nowhere"}}
	if st, out := submit(t, f, form); st != http.StatusUnprocessableEntity || out["error"] != i18n.For(language.Russian).T("placement.err.position") {
		t.Errorf("a bad position, LANG=ru: HTTP %d %v", st, out)
	}
	form.Set("position", "bottom-right")
	st, out := submit(t, f, form)
	if st != http.StatusAccepted || !strings.HasSuffix(fmt.Sprint(out["status_url"]), "?LANG=ru") {
		t.Fatalf("submit: HTTP %d %v", st, out)
	}
	if _, status := pollStatus(t, f, out["status_url"].(string), out["status_token"].(string)); status.State != "queued" || status.Message != i18n.For(language.Russian).T("placement.status.queued") {
		t.Errorf("status, LANG=ru: %+v", status)
	}
	// The job fails at the worker: the dialog tells why in its reader's words (the failure's kind,
	// internal/reasons), not in the worker's English error.
	jobs, err := f.js.CreateOrUpdateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: contracts.BucketJobs})
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(contracts.Delivered{Outcome: contracts.OutcomeFailed, Error: "pdf: the file is not a PDF (no %PDF header)",
		Failure: &contracts.Failure{Kind: contracts.FailureNotPDF}, Delivered: time.Now()})
	if _, err := jobs.Put(context.Background(), contracts.DeliveredKey(out["job_id"].(string)), rec); err != nil {
		t.Fatal(err)
	}
	ru := i18n.For(language.Russian)
	if _, status := pollStatus(t, f, out["status_url"].(string), out["status_token"].(string)); status.State != "failed" || status.Message != ru.T("placement.status.failed", ru.T("failure.not_pdf")) {
		t.Errorf("a failed job, LANG=ru: %+v", status)
	}
}

// The installation page is in the installing administrator's language, LANG of the request.
func TestInstallPageInTheAdministratorsLanguage(t *testing.T) {
	for _, lang := range []string{"ru", "en"} {
		f := newInstallFixture(t, emulator.Config{Admins: []int{5}, Language: lang})
		resp, page := f.openInstallPage(t, 5)
		l := i18n.New(lang)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<html lang="`+lang+`">`) || !strings.Contains(page, l.T("install.done.title")) {
			t.Fatalf("LANG=%s: HTTP %d\n%s", lang, resp.StatusCode, page)
		}
		left, err := i18ntext.Foreign(l, []byte(page), strings.TrimPrefix(strings.TrimPrefix(f.portal.BaseURL(), "http://"), "https://"))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range left {
			t.Errorf("LANG=%s: not from the catalogue: %s", lang, s)
		}
	}
}
