package testenv

import (
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TOTP asks oathtool, which nobody here wrote, for the RFC 6238 code of the base32 secret at time at:
// the identity service's codes and its enrolment page are judged by an outside implementation.
func TOTP(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	tool := RequireTool(t, "oathtool")
	out, err := exec.Command(tool, "--totp", "-b", secret, "--now", fmt.Sprintf("@%d", at.Unix())).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// WrongTOTP returns a 6-digit code that is not code.
func WrongTOTP(code string) string {
	var n int
	fmt.Sscanf(code, "%d", &n)
	return fmt.Sprintf("%06d", (n+500001)%1000000)
}

// EnrolmentToken is the token of an enrolment link (…/enrol/{token}).
func EnrolmentToken(t testing.TB, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := strings.CutPrefix(u.Path, "/enrol/")
	if !ok || tok == "" {
		t.Fatalf("link %q is not an enrolment link", link)
	}
	return tok
}
