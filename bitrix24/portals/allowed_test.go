package portals

import "testing"

// An allowed-portal entry is a host or http://host:port, nothing that could widen it (a path, a user,
// a wildcard) or be read two ways.
func TestNormalizeDomain(t *testing.T) {
	for in, want := range map[string]string{
		"Acme.Bitrix24.ru":           "acme.bitrix24.ru",
		" acme.bitrix24.ru ":         "acme.bitrix24.ru",
		"https://acme.bitrix24.ru/":  "acme.bitrix24.ru",
		"http://127.0.0.1:8080":      "http://127.0.0.1:8080",
		"http://CRM.example.local/":  "http://crm.example.local",
		"*.bitrix24.ru":              "",
		"acme.bitrix24.ru/rest":      "",
		"https://a@acme.bitrix24.ru": "",
		"ftp://acme.bitrix24.ru":     "",
		"https://acme.ru/?x=1":       "",
		"":                           "",
	} {
		got, err := NormalizeDomain(in)
		if want == "" && err == nil {
			t.Errorf("NormalizeDomain(%q) = %q, want refused", in, got)
		}
		if want != "" && (err != nil || got != want) {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
