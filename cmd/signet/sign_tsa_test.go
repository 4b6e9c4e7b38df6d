package main

import (
	"strings"
	"testing"
)

// `signet sign --tsa` takes the rule of signing.tsa_url: an http(s) URL without credentials, refused
// as a usage mistake before any token is opened, and never repeated.
func TestSignTSAURLRule(t *testing.T) {
	for _, u := range []string{"https://user:s3cret@tsa.example/", "ftp://tsa.example/", "tsa.example"} {
		out, code := runCLI(t, "sign", "--key", "pkcs11:token=none;object=none", "--in", "a.pdf", "--out", "b.pdf", "--tsa", u)
		if code != 2 || !strings.Contains(out, "--tsa") || strings.Contains(out, "s3cret") {
			t.Errorf("--tsa %s: exit %d, want 2 naming --tsa without the password:\n%s", u, code, out)
		}
	}
}
