package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/keyring/softhsm"
)

// Every command that opens a token takes its PIN by the keyring's one rule (keyring/pin.go),
// in each form: a PIN file named in the URI (file: or a plain path), --pin-file, the configuration's
// pin_file or pin_env, and a command-line PIN file in place of an unusable configured one. Each
// command with each form works, without a configuration file where the URI carries the module; a
// pin-value, and a module without a PIN, get one answer that says what to use. The PIN is never
// printed.
func TestEveryCommandTakesThePINByOneRule(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	t.Setenv("SIGNET_CONFIG", "")
	const pin = "pin-4711-secret"
	dir := t.TempDir()
	module, err := softhsm.Init(filepath.Join(dir, "hsm"), "pins", "so-4711", pin)
	if err != nil {
		t.Fatal(err)
	}
	pinFile := filepath.Join(dir, "pins.pin")
	if err := os.WriteFile(pinFile, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(name, pinLine string) string {
		p := filepath.Join(dir, name+".yaml")
		yaml := fmt.Sprintf("tokens:\n  - name: pins\n    module: %s\n    label: pins\n    %s\n", module, pinLine)
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("PINS_PIN", pin)
	withModule := "?module-path=" + module

	forms := []struct {
		name  string
		query string   // appended to the token's and the keys' URIs
		extra []string // flags given to every command
	}{
		{"pin-source=file: in the URI, no configuration", withModule + "&pin-source=file:" + pinFile, nil},
		{"pin-source as a plain path, no configuration", withModule + "&pin-source=" + pinFile, nil},
		{"--pin-file, no configuration", withModule, []string{"--pin-file", pinFile}},
		{"configuration pin_file", "", []string{"--config", config("file", "pin_file: "+pinFile)}},
		{"configuration pin_env", "", []string{"--config", config("env", "pin_env: PINS_PIN")}},
		{"--pin-file replaces an unusable configured PIN", "", []string{"--config", config("unset", "pin_env: PINS_PIN_UNSET"), "--pin-file", pinFile}},
		{"pin-source replaces an unusable configured PIN", "?pin-source=file:" + pinFile, []string{"--config", config("unset2", "pin_env: PINS_PIN_UNSET")}},
	}
	invoice := "../../testdata/pdf/invoice.pdf"
	for i, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			tokenURI := "pkcs11:token=pins" + f.query
			key := func(label string) string { return "pkcs11:token=pins;object=" + label + f.query }
			n := fmt.Sprint(i)
			out := filepath.Join(dir, "out"+n)
			steps := [][]string{
				{"admin", "cert", "self-signed", "--token", tokenURI, "--label", "self-" + n, "--subject", "CN=Self " + n, "--key-type", "p256"},
				{"admin", "cert", "list", "--token", tokenURI},
				{"admin", "ca", "init", "--token", tokenURI, "--label", "ca-" + n, "--subject", "CN=CA " + n, "--key-type", "p256"},
				{"admin", "ca", "issue", "--ca", key("ca-" + n), "--token", tokenURI, "--label", "emp-" + n, "--subject", "CN=Employee " + n},
				{"admin", "ca", "export", "--ca", key("ca-" + n), "--out", filepath.Join(out, "ca")},
				// A self-signed credential's root is its own certificate: export it, and import it again.
				{"admin", "ca", "export", "--ca", key("self-" + n), "--out", filepath.Join(out, "self")},
				{"admin", "cert", "import", "--key", key("self-" + n), "--cert", filepath.Join(out, "self", "root.pem")},
				{"sign", "--key", key("emp-" + n), "--in", invoice, "--out", filepath.Join(out, "signed.pdf")},
			}
			for _, args := range steps {
				args = append(args, f.extra...)
				got, code := runCLI(t, args...)
				if code != 0 {
					t.Fatalf("signet %s: exit %d\n%s", strings.Join(args[:3], " "), code, got)
				}
				if strings.Contains(got, pin) {
					t.Fatalf("signet %s printed the PIN:\n%s", strings.Join(args[:3], " "), got)
				}
				if args[1] == "cert" && args[2] == "list" && !strings.Contains(got, "object=self-"+n) {
					t.Fatalf("list does not show self-%s:\n%s", n, got)
				}
			}
			for _, f := range []string{"ca/root.pem", "ca/root.der", "signed.pdf"} {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Fatalf("%s was not written: %v", f, err)
				}
			}
		})
	}

	// The refusals, for every command: one answer each, naming what to use, never the PIN.
	commands := map[string]func(uri string) []string{
		"cert list": func(u string) []string { return []string{"admin", "cert", "list", "--token", u} },
		"cert self-signed": func(u string) []string {
			return []string{"admin", "cert", "self-signed", "--token", u, "--label", "x", "--subject", "CN=X"}
		},
		"cert import": func(u string) []string {
			return []string{"admin", "cert", "import", "--key", strings.Replace(u, "?", ";object=self-0?", 1), "--cert", filepath.Join(dir, "out0", "self", "root.pem")}
		},
		"ca init": func(u string) []string {
			return []string{"admin", "ca", "init", "--token", u, "--label", "x", "--subject", "CN=X"}
		},
		"ca issue": func(u string) []string {
			return []string{"admin", "ca", "issue", "--ca", strings.Replace(u, "?", ";object=ca-0?", 1), "--token", u, "--label", "x", "--subject", "CN=X"}
		},
		"ca export": func(u string) []string {
			return []string{"admin", "ca", "export", "--ca", strings.Replace(u, "?", ";object=ca-0?", 1), "--out", filepath.Join(dir, "x")}
		},
		"sign": func(u string) []string {
			return []string{"sign", "--key", strings.Replace(u, "?", ";object=emp-0?", 1), "--in", invoice, "--out", filepath.Join(dir, "x.pdf")}
		},
	}
	refusals := []struct{ name, query, want string }{
		{"pin-value", withModule + "&pin-value=" + pin, "(pin-value) is not accepted"},
		{"pin-value without the module", "?pin-value=" + pin, "pin-source=file:/path/to/pin in the URI or --pin-file"},
		{"a module without a PIN", withModule, "add ?pin-source=file:/path/to/pin to its URI or give --pin-file"},
	}
	for name, cmd := range commands {
		for _, r := range refusals {
			args := cmd("pkcs11:token=pins" + r.query)
			got, code := runCLI(t, args...)
			if code == 0 || !strings.Contains(got, r.want) {
				t.Errorf("%s with %s: exit %d, want a failure saying %q:\n%s", name, r.name, code, r.want, got)
			}
			if strings.Contains(got, pin) {
				t.Errorf("%s with %s printed the PIN:\n%s", name, r.name, got)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.pdf")); err == nil {
		t.Error("a refused sign wrote its output")
	}
}
