package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/signet-b24/signet/internal/i18n"
)

// askIn sends an administrator's request to the admin API with Accept-Language lang and decodes
// its error body.
func askIn(t *testing.T, c client, lang, method, path, body string) (int, errorBody) {
	t.Helper()
	req, _ := http.NewRequest(method, c.srv.URL+path, strings.NewReader(body))
	req.Header.Set("X-Test-Admin", "yes")
	req.Header.Set("Accept-Language", lang)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e errorBody
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("%s %s: not a JSON error: %v", method, path, err)
	}
	return resp.StatusCode, e
}

// Issue 18, must 3: an admin API error is worded in the caller's language (Accept-Language) and
// carries a stable code, the same in every language, with the same HTTP status. In English the error
// is the identity service's own words, as before; in Russian the code's sentence, with those words in
// detail.
func TestAdminAPIErrorsInTheCallersLanguage(t *testing.T) {
	_, c := newHTTPFixture(t)
	ru := i18n.New("ru")
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "/v1/admin/users/nobody", "", http.StatusNotFound, "user_not_found"},
		{"POST", "/v1/admin/users", `{"login": 7}`, http.StatusBadRequest, "bad_body"},
		{"POST", "/v1/admin/users/nobody/fly", "", http.StatusNotFound, "unknown_action"},
		{"POST", "/v1/grants", `{"login": "mary", "ttl": "soon"}`, http.StatusBadRequest, "bad_ttl"},
	} {
		enStatus, en := askIn(t, c, "en", tc.method, tc.path, tc.body)
		ruStatus, inRu := askIn(t, c, "ru-RU,ru;q=0.9", tc.method, tc.path, tc.body)
		if enStatus != tc.status || ruStatus != tc.status || en.Code != tc.code || inRu.Code != tc.code {
			t.Errorf("%s %s: %d %q in English, %d %q in Russian; want %d %q", tc.method, tc.path, enStatus, en.Code, ruStatus, inRu.Code, tc.status, tc.code)
		}
		if en.Error == "" || en.Detail != "" || inRu.Error != ru.T("api.error."+tc.code) || inRu.Detail != en.Error {
			t.Errorf("%s %s: English %+v, Russian %+v", tc.method, tc.path, en, inRu)
		}
	}
}

// A server's failure (storage, NATS, a token) says what failed and what to do, in the caller's
// language, with its code; the failing package's words, which may name servers and buckets, are in
// the log and not in the answer.
func TestAdminAPIServerFailureKeepsItsDetailInTheLog(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	const detail = "nats: no responders available for request to 10.0.0.7:4222 bucket signet_portals"
	for _, lang := range []string{"en", "ru"} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/v1/admin/portals", nil)
		r.Header.Set("Accept-Language", lang)
		apiError(w, r, zap.New(core), http.StatusServiceUnavailable, "storage_unavailable", detail)
		var e errorBody
		if err := json.NewDecoder(w.Body).Decode(&e); err != nil || w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s: %d %v", lang, w.Code, err)
		}
		if e.Code != "storage_unavailable" || e.Error != i18n.New(lang).T("api.error.storage_unavailable") || e.Detail != "" || strings.Contains(e.Error, "10.0.0.7") {
			t.Errorf("%s: %+v", lang, e)
		}
	}
	if got := logs.FilterField(zap.String("detail", detail)).Len(); got != 2 {
		t.Errorf("the detail was logged %d times, want 2", got)
	}
}

// Every code the API answers with has its sentence in the catalogue: the codes of apiError's and
// writeBadRequest's calls and of the failure tables, read from the source.
func TestEveryAPIErrorCodeIsInTheCatalogue(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	uses := []*regexp.Regexp{
		regexp.MustCompile(`apiError\([^\n]*?http\.Status\w+, "([a-z_]+)"`),
		regexp.MustCompile(`writeBadRequest\(w, r, "([a-z_]+)"`),
		regexp.MustCompile(`http\.Status\w+, "([a-z_]+)"\}`),
		regexp.MustCompile(`"api\.error\.([a-z_]+)"`),
	}
	codes := map[string]bool{"internal": true}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range uses {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				codes[m[1]] = true
			}
		}
	}
	if len(codes) < 40 {
		t.Fatalf("found %d codes; the patterns no longer match the source", len(codes))
	}
	for code := range codes {
		if !i18n.Has("api.error." + code) {
			t.Errorf("code %q has no catalogue sentence api.error.%s", code, code)
		}
	}
}
