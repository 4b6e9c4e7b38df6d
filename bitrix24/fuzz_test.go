package bitrix24

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The fuzz targets run their seed corpus (testdata/fuzz/<Target>/, with captured payloads and the
// bodies that once broke the parser) in every test run; `go test -fuzz` explores from there. Each
// body is an unauthenticated request from the internet, so the only acceptable outcomes are a parsed
// request or an ErrBadRequest: never a panic, never another error.

func fuzzPost(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/bitrix24/robot", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func FuzzParseRobotCall(f *testing.F) {
	f.Fuzz(func(t *testing.T, body string) {
		rr, err := ParseRobotRequest(fuzzPost(body))
		if err != nil {
			if !isBadRequest(err) {
				t.Fatalf("a malformed robot call must be ErrBadRequest, got %v", err)
			}
			if len(err.Error()) > 2*maxErrorText {
				t.Fatalf("the error about a malformed robot call is %d bytes; it must be bounded", len(err.Error()))
			}
			return
		}
		if !ValidMemberID(rr.Auth.MemberID) || rr.Auth.ApplicationToken == "" || rr.EventToken == "" || len(rr.DocumentID) != 3 {
			t.Fatalf("parsed a robot call without its required fields: %+v", rr)
		}
		_, _, _ = rr.DocumentItem()
	})
}

func FuzzParseInstallEvent(f *testing.F) {
	f.Fuzz(func(t *testing.T, body string) {
		ie, err := ParseInstallEvent(fuzzPost(body))
		if err != nil {
			if !isBadRequest(err) {
				t.Fatalf("a malformed install event must be ErrBadRequest, got %v", err)
			}
			return
		}
		if ie.Auth.MemberID == "" || ie.Auth.ApplicationToken == "" {
			t.Fatalf("parsed an install event without member_id or application_token: %+v", ie)
		}
	})
}

func isBadRequest(err error) bool { return errors.Is(err, ErrBadRequest) }
