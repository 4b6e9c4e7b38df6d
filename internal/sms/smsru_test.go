package sms

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/smsru"
)

func TestSMSRuSendsThroughTheDocumentedProtocol(t *testing.T) {
	gw := smsru.Start(t, "api-secret-1")
	creds := filepath.Join(t.TempDir(), "sms.creds")
	if err := os.WriteFile(creds, []byte("SIGNET_SMS_API_ID=api-secret-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Provider: "smsru", URL: gw.URL, CredentialsFile: creds, From: "ACME"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(context.Background(), "+79991234567", "Signet code 123456"); err != nil {
		t.Fatal(err)
	}
	sent := gw.Sent()
	if len(sent) != 1 || sent[0].To != "79991234567" || sent[0].Text != "Signet code 123456" || sent[0].From != "ACME" {
		t.Fatalf("the gateway received %+v", sent)
	}
}

func TestSMSRuRefusalsSayWhatToDoAndNeverTheAPIID(t *testing.T) {
	gw := smsru.Start(t, "right-id")
	wrong := &SMSRu{APIID: "wrong-secret-id", URL: gw.URL}
	err := wrong.Send(context.Background(), "+79991234567", "x")
	if err == nil || !strings.Contains(err.Error(), "external.sms_credentials_file") || strings.Contains(err.Error(), "wrong-secret-id") {
		t.Fatalf("a wrong api_id: %v", err)
	}
	gw.Down(true)
	err = (&SMSRu{APIID: "right-id", URL: gw.URL}).Send(context.Background(), "+79991234567", "x")
	if err == nil || !strings.Contains(err.Error(), "503") || strings.Contains(err.Error(), "right-id") {
		t.Fatalf("an outage: %v", err)
	}
	if err := (&SMSRu{APIID: "right-id", URL: gw.URL}).Send(context.Background(), "8-999-123", "x"); err == nil {
		t.Fatal("a number not in international form was sent")
	}
	if len(gw.Sent()) != 0 {
		t.Fatalf("sent %v", gw.Sent())
	}
}

func TestNewRefusesAnUnknownProviderAndAMissingCredential(t *testing.T) {
	if p, err := New(Config{}); p != nil || err != nil {
		t.Fatalf("no provider: %v %v", p, err)
	}
	if _, err := New(Config{Provider: "twilio"}); err == nil || !strings.Contains(err.Error(), "external-signers.md") {
		t.Fatalf("unknown provider: %v", err)
	}
	if _, err := New(Config{Provider: "smsru"}); err == nil || !strings.Contains(err.Error(), "SIGNET_SMS_API_ID") {
		t.Fatalf("no credentials file: %v", err)
	}
}
