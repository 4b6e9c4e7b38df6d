package producer

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"

	"github.com/signet-b24/signet/internal/i18n"
)

// A request to sign is named by its file's name, as the signer knows the document, in the inbox
// and in the notification; not "Disk file 102".
func TestRequestNamedByItsFile(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	svc := f.withRequests(t, newClock(time.Now()))
	f.enrolSigner(t)
	const name = "Договор поставки 2026-11.pdf"
	disk, _ := f.portal.AddDealFile(1190, name, []byte("%PDF-1.4 contract"))
	if _, st, err := f.portal.RobotCall(context.Background(), f.robotURL(), "signet_sign_pdf", 1190, f.props(strconv.Itoa(disk))); err != nil || st != http.StatusOK {
		t.Fatalf("robot call: HTTP %d %v", st, err)
	}
	list, err := svc.List(context.Background(), f.portal.MemberID(), "mary")
	if err != nil || len(list) != 1 {
		t.Fatalf("mary's requests: %v %v", list, err)
	}
	if list[0].Title != name {
		t.Fatalf("request titled %q, want the file's name %q", list[0].Title, name)
	}
	if item := f.in.inboxItem(i18n.For(language.English), list[0], false); item.Title != name {
		t.Fatalf("the inbox shows %q, want %q", item.Title, name)
	}
	var told bool
	for _, n := range f.portal.Notifications() {
		told = told || n.UserID == 7 && strings.Contains(n.Message, name)
	}
	if !told {
		t.Fatalf("no notification names the file: %v", f.portal.Notifications())
	}
}
