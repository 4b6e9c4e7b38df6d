package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/keyring/softhsm"
)

// `signet sign --visible` draws the signet in the language of LC_ALL/LC_MESSAGES/LANG and the zone of
// --tz, else TZ, else UTC (issue 18, must 2 and 4); a --tz that names no zone is a usage mistake.
func TestSignSignetInTheShellsLanguageAndZone(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	pdftotext := testenv.RequireTool(t, "pdftotext")
	dir := t.TempDir()
	module, err := softhsm.Init(filepath.Join(dir, "hsm"), "lang", "so-1", "pin-1")
	if err != nil {
		t.Fatal(err)
	}
	pinFile := filepath.Join(dir, "pin")
	os.WriteFile(pinFile, []byte("pin-1"), 0o600)
	q := "?module-path=" + module + "&pin-source=file:" + pinFile
	if out, code := runCLI(t, "admin", "cert", "self-signed", "--token", "pkcs11:token=lang"+q, "--label", "ivanov", "--subject", "CN=Иванов Иван,O=Acme"); code != 0 {
		t.Fatalf("self-signed: %s", out)
	}
	key := "pkcs11:token=lang;object=ivanov" + q
	t.Setenv("LC_ALL", "")
	t.Setenv("LC_MESSAGES", "")
	for _, c := range []struct {
		lang, tz, flag string
		want           []string
	}{
		{"ru_RU.UTF-8", "Asia/Yekaterinburg", "", []string{"Документ подписан электронной подписью", "Иванов Иван", "(UTC+05:00)", "Действителен с "}},
		{"ru_RU.UTF-8", "Asia/Yekaterinburg", "Europe/Moscow", []string{"Документ подписан электронной подписью", "(UTC+03:00)"}},
		{"C.UTF-8", "", "", []string{"Digitally signed", "Иванов Иван", " UTC\n", "Valid from "}},
	} {
		t.Setenv("LANG", c.lang)
		t.Setenv("TZ", c.tz)
		out := filepath.Join(dir, "signed.pdf")
		args := []string{"sign", "--key", key, "--in", "../../testdata/pdf/invoice.pdf", "--out", out, "--visible"}
		if c.flag != "" {
			args = append(args, "--tz", c.flag)
		}
		if o, code := runCLI(t, args...); code != 0 {
			t.Fatalf("sign: exit %d\n%s", code, o)
		}
		text, err := exec.Command(pdftotext, "-raw", out, "-").CombinedOutput()
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(string(text), w) {
				t.Errorf("LANG=%s TZ=%s --tz %q: the signet lacks %q:\n%s", c.lang, c.tz, c.flag, w, text)
			}
		}
	}
	if o, code := runCLI(t, "sign", "--key", key, "--in", "../../testdata/pdf/invoice.pdf", "--out", filepath.Join(dir, "x.pdf"), "--tz", "Mars/Olympus"); code != 2 || !strings.Contains(o, "--tz") {
		t.Errorf("--tz Mars/Olympus: exit %d, want 2 naming --tz:\n%s", code, o)
	}
}
