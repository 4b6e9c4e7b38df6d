package producer

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// The Sign dialog's page and its submission have the robot call's deadline from its arrival (issue 19, must 3a):
// the portal lookup before the claim is inside it. A submission arriving with its budget already
// spent (callBudget 1 ns) is answered 503 "try again" at the lookup; with the deadline started only
// at the claim, the lookup would run unbounded and the job would be queued.
func TestSignDialogDeadlineStartsOnArrival(t *testing.T) {
	f := dialogFixture(t, "contract")
	page, hidden := openForm(t, f, 7, 42)
	doc := optionRe.FindStringSubmatch(page)[1]
	f.in.callBudget = time.Nanosecond
	if resp, body := openDialog(t, f, 7, 42, nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("the dialog opened with its budget spent on arrival: HTTP %d %.200s, want 503", resp.StatusCode, body)
	}
	st, out := submit(t, f, url.Values{"ctx": {hidden["ctx"]}, "csrf": {hidden["csrf"]}, "document": {doc}, "credential": {cred},
		"visible": {"N"}, "page": {"last"}, "position": {"bottom-left"}})
	if st != http.StatusServiceUnavailable {
		t.Fatalf("a submission whose budget is spent on arrival: HTTP %d %v, want 503", st, out)
	}
}
