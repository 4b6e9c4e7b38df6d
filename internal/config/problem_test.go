package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/testsupport/i18ntext"
)

// TestProblemsAreInTheCatalogue: every problem the configuration reports has its catalogue message,
// "config."+code, whose English is the code's own (the English output is what it always was).
func TestProblemsAreInTheCatalogue(t *testing.T) {
	if n := i18ntext.CheckSource(t, "config.", []string{"problem", "say"}); n < 30 {
		t.Errorf("found %d problems; the source is no longer read", n)
	}
}

// A refused configuration in Russian: each problem worded from the catalogue, a problem inside
// another too, the English as it was, and the wrapped error still reachable.
func TestProblemsInRussian(t *testing.T) {
	c := Defaults()
	c.Mail.TLS = "ssl"
	c.NATS.Replicas = 9
	c.Signing.TSAURL = "ftp://tsa.example"
	err := c.Validate()
	if err == nil {
		t.Fatal("a bad configuration passed")
	}
	ru := i18n.New("ru")
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var p *Problem
		if !errors.As(e, &p) {
			t.Fatalf("not a Problem: %v", e)
		}
		got = append(got, p.In(ru))
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{`mail.tls "ssl": укажите starttls, tls или none`, "nats.replicas 9: JetStream допускает от 1 до 5",
		"signing.tsa_url: это не URL http:// или https://"} {
		if !strings.Contains(all, want) {
			t.Errorf("Russian problems lack %q:\n%s", want, all)
		}
	}
	if !strings.Contains(err.Error(), `mail.tls "ssl": use starttls, tls or none`) || !strings.Contains(err.Error(), "signing.tsa_url: not an http:// or https:// URL") {
		t.Errorf("English: %v", err)
	}
}
