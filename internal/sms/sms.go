// Package sms sends Signet's text messages (issue 20, must 2: an external signer's link and code)
// through a Provider. One real provider is built in, SMS.ru's documented HTTP API (smsru.go); adding
// another is a type with a Send method and a case in New (docs/external-signers.md, "Adding an SMS
// provider"). A provider's credential comes from a file, never a setting, a URL, a log line or an error.
package sms

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Provider sends one text message to one phone number (E.164 digits, "+79991234567").
type Provider interface {
	Send(ctx context.Context, phone, text string) error
	// Name is the provider's name for logs and errors ("smsru").
	Name() string
}

// Config is the external.sms_* settings.
type Config struct {
	Provider        string // "" (no SMS) or "smsru"
	URL             string // the provider's endpoint; "" its documented one
	CredentialsFile string // SIGNET_SMS_API_ID=… (SMS.ru)
	From            string // sender name the provider approved; "" its default
}

// ErrNoProvider: SMS is not configured (external.sms_provider is empty).
var ErrNoProvider = errors.New("no SMS provider is configured: set external.sms_provider, or invite by e-mail")

// New makes the provider of cfg; nil, nil when none is configured.
func New(cfg Config) (Provider, error) {
	switch cfg.Provider {
	case "":
		return nil, nil
	case "smsru":
		id, err := readCredential(cfg.CredentialsFile, "SIGNET_SMS_API_ID")
		if err != nil {
			return nil, err
		}
		return &SMSRu{APIID: id, URL: cfg.URL, From: cfg.From}, nil
	}
	return nil, fmt.Errorf("external.sms_provider %q: use smsru, or leave it empty for no SMS (docs/external-signers.md says how to add a provider)", cfg.Provider)
}

// readCredential reads the KEY=… line of a credentials file.
func readCredential(path, key string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("external.sms_credentials_file is empty: name a file with a %s=… line", key)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("external.sms_credentials_file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && k == key && v != "" {
			return v, nil
		}
	}
	return "", fmt.Errorf("external.sms_credentials_file %s needs a %s=… line", path, key)
}

// ValidPhone says whether s is a phone number in E.164 form: "+" and 8 to 15 digits.
func ValidPhone(s string) bool {
	d, ok := strings.CutPrefix(s, "+")
	if !ok || len(d) < 8 || len(d) > 15 {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
