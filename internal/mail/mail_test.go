package mail

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/mailpit"
)

// A message with a Cyrillic subject and body reaches a real SMTP server (Mailpit) intact.
func TestSendToMailpit(t *testing.T) {
	mp := mailpit.Start(t)
	s, err := New(Config{SMTPHost: mp.SMTP, From: "Signet <signet@example.test>", TLS: TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), "ivan@example.test", "Signet: настройка кодов", "Откройте ссылку:\nhttps://signet.example.test/enrol/abc"); err != nil {
		t.Fatal(err)
	}
	got := mp.To(t, "ivan@example.test")
	if len(got) != 1 || got[0].Subject != "Signet: настройка кодов" || !strings.Contains(got[0].Text, "https://signet.example.test/enrol/abc") {
		t.Fatalf("received: %+v", got)
	}
}

// Settings that cannot work are refused before anything is sent, and a password is never sent in clear
// to another host.
func TestNewRefusesBadSettings(t *testing.T) {
	creds := filepath.Join(t.TempDir(), "mail.credentials")
	if err := os.WriteFile(creds, []byte("SIGNET_MAIL_USER=signet\nSIGNET_MAIL_PASSWORD=s3cret-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{
		"no port":           {SMTPHost: "smtp.example.test", From: "a@example.test"},
		"bad from":          {SMTPHost: "smtp.example.test:587", From: "not an address"},
		"bad tls":           {SMTPHost: "smtp.example.test:587", From: "a@example.test", TLS: "ssl3"},
		"password in clear": {SMTPHost: "smtp.example.test:25", From: "a@example.test", TLS: TLSNone, CredentialsFile: creds},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "s3cret-pass") {
			t.Errorf("%s: the error shows the password", name)
		}
	}
	if _, err := New(Config{SMTPHost: "smtp.example.test:587", From: "a@example.test", CredentialsFile: creds}); err != nil {
		t.Errorf("STARTTLS with credentials: %v", err)
	}
}
