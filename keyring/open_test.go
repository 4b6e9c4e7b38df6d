package keyring

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// TestDemoFirstAndSecondRun is the demo's start-up: the first run creates the credential, the next
// run (a new Keyring on the same store) finds it instead of generating another.
func TestDemoFirstAndSecondRun(t *testing.T) {
	_, cfgs := softhsmStore(t, "signet-demo")
	ctx := context.Background()
	const uri = "pkcs11:token=signet-demo;object=demo-signer"
	var first *Credential
	for run := 1; run <= 2; run++ {
		k, err := Open(ctx, cfgs, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		cred, err := k.Credential(ctx, uri)
		switch {
		case run == 1 && errors.Is(err, ErrKeyNotFound):
			cred, err = k.GenerateSelfSigned(ctx, "signet-demo", "demo-signer", "CN=Signet Demo Signer,O=Signet", P256, 3650)
			if err != nil {
				t.Fatal(err)
			}
			first = cred
		case run == 2 && err == nil:
			if !cred.Certificate.Equal(first.Certificate) || cred.URI != first.URI {
				t.Fatalf("second run found %s, want %s", cred.URI, first.URI)
			}
		default:
			t.Fatalf("run %d: Credential(%s) = %v", run, uri, err)
		}
		signAndVerify(t, cred, []byte("demo"))
		if err := k.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMisconfiguredTokenDoesNotTakeOthersDown opens two good tokens next to a wrong label and a wrong
// PIN, then opens more bad configurations in a second Keyring while the first one signs. A failed
// crypto11.Configure would C_Finalize the module under the good tokens; the pre-check must prevent
// it.
func TestMisconfiguredTokenDoesNotTakeOthersDown(t *testing.T) {
	_, cfgs := softhsmStore(t, "alpha", "beta", "gamma")
	t.Setenv("SIGNET_TEST_WRONG_PIN", "not-the-pin")
	wrongLabel := TokenConfig{Name: "ghost", Module: cfgs[0].Module, Label: "no-such-token", PinFile: cfgs[0].PinFile}
	wrongPIN := TokenConfig{Name: "gamma-wrong-pin", Module: cfgs[2].Module, Label: "gamma", PinEnv: "SIGNET_TEST_WRONG_PIN"}
	ctx := context.Background()

	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))
	defer func() {
		for _, e := range logs.All() {
			line := fmt.Sprintf("%s %v", e.Message, e.ContextMap())
			if strings.Contains(line, "not-the-pin") || strings.Contains(line, testUserPIN) {
				t.Errorf("log line leaks a PIN: %s", line)
			}
		}
		if logs.Len() == 0 {
			t.Error("nothing was logged about the failed tokens")
		}
	}()
	k, err := Open(ctx, []TokenConfig{cfgs[0], cfgs[1], wrongLabel, wrongPIN}, log)
	var oe *OpenError
	if !errors.As(err, &oe) || k == nil {
		t.Fatalf("Open = %v, %v; want a Keyring and an *OpenError", k, err)
	}
	defer k.Close()
	if len(oe.Tokens) != 2 || !errors.Is(oe.Tokens["ghost"], ErrTokenNotFound) || !errors.Is(oe.Tokens["gamma-wrong-pin"], ErrPINIncorrect) {
		t.Fatalf("OpenError = %v", oe)
	}
	if strings.Contains(err.Error(), "not-the-pin") || strings.Contains(err.Error(), testUserPIN) {
		t.Fatalf("error leaks a PIN: %v", err)
	}
	var creds []*Credential
	for _, name := range []string{"alpha", "beta"} {
		c, err := k.GenerateSelfSigned(ctx, name, name+"-key", "CN="+name, P256, 30)
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, c)
	}
	signAll := func(when string) {
		t.Helper()
		for _, c := range creds {
			if _, err := c.Key.Sign(nil, make([]byte, 32), nil); err != nil {
				t.Fatalf("%s: sign with %s: %v", when, c.URI, err)
			}
			signAndVerify(t, c, []byte(when))
		}
	}
	signAll("after the failed opens")
	st := k.Status()
	want := map[string]bool{"alpha": true, "beta": true, "ghost": false, "gamma-wrong-pin": false}
	for _, s := range st {
		if s.Online != want[s.Name] || (!s.Online && s.Err == "") {
			t.Fatalf("status %+v", s)
		}
	}
	if _, err := k.Credential(ctx, "pkcs11:token=ghost;object=x"); !errors.Is(err, ErrTokenOffline) {
		t.Fatalf("credential on the offline token: %v, want ErrTokenOffline", err)
	}

	// A second Keyring in the same process: wrong label, wrong PIN for a token not logged in, and a
	// wrong PIN for a token the first Keyring is logged in to (C_Login would say
	// CKR_USER_ALREADY_LOGGED_IN and crypto11 would accept it).
	wrongPINLoggedIn := TokenConfig{Name: "alpha-wrong-pin", Module: cfgs[0].Module, Label: "alpha", PinEnv: "SIGNET_TEST_WRONG_PIN"}
	for _, bad := range []TokenConfig{wrongLabel, wrongPIN, wrongPINLoggedIn} {
		k2, err := Open(ctx, []TokenConfig{bad}, log)
		if !errors.As(err, &oe) {
			t.Fatalf("Open(%s) = %v, want *OpenError", bad.Name, err)
		}
		if bad.Name != "ghost" && !errors.Is(err, ErrPINIncorrect) {
			t.Fatalf("Open(%s) = %v, want ErrPINIncorrect", bad.Name, err)
		}
		signAll("after opening " + bad.Name)
		_ = k2.Close()
		signAll("after closing " + bad.Name)
	}

	// The right PIN for a token that is already open elsewhere in the process works.
	k3 := openKeyring(t, []TokenConfig{cfgs[0]})
	c3, err := k3.Credential(ctx, creds[0].URI)
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, c3, []byte("second keyring"))
	_ = k3.Close()
	signAll("after closing the second keyring on alpha")
}

func TestOpenRejectsBadConfig(t *testing.T) {
	_, cfgs := softhsmStore(t, "cfg")
	ctx := context.Background()
	good := cfgs[0]
	twoSelectors := good
	twoSelectors.Serial = "1234"
	noPIN := good
	noPIN.PinFile = ""
	oneSession := good
	oneSession.MaxSessions = 1
	for name, cfgs := range map[string][]TokenConfig{
		"duplicate names": {good, good},
		"none":            nil,
	} {
		if k, err := Open(ctx, cfgs, nil); err == nil || k != nil || !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("%s: Open = %v, %v", name, k, err)
		}
	}
	for name, c := range map[string]TokenConfig{"two selectors": twoSelectors, "no PIN": noPIN, "MaxSessions 1": oneSession} {
		k, err := Open(ctx, []TokenConfig{c}, nil)
		if !errors.Is(err, ErrInvalidConfig) || k == nil {
			t.Fatalf("%s: Open = %v", name, err)
		}
		if st := k.Status(); st[0].Online || st[0].Err == "" {
			t.Fatalf("%s: status %+v", name, st)
		}
		_ = k.Close()
	}
}

func TestKeyURIRefusesPINValue(t *testing.T) {
	_, cfgs := softhsmStore(t, "pinless")
	k := openKeyring(t, cfgs)
	_, err := k.Credential(context.Background(), "pkcs11:token=pinless;object=k?pin-value=1234")
	if !errors.Is(err, ErrInvalidURI) || strings.Contains(err.Error(), "1234") {
		t.Fatalf("Credential with pin-value: %v, want ErrInvalidURI without the PIN", err)
	}
	if _, err := k.Credential(context.Background(), "pkcs11:token=pinless"); !errors.Is(err, ErrInvalidURI) {
		t.Fatalf("Credential without id or object: %v", err)
	}
}

// TestSerialAndSlotSelectors opens a token by serial and by slot, and resolves URIs naming the token
// by serial= and slot-id= (RFC 7512) as well as by label.
func TestSerialAndSlotSelectors(t *testing.T) {
	_, cfgs := softhsmStore(t, "by-label")
	ctx := context.Background()
	k := openKeyring(t, cfgs)
	cred, err := k.GenerateSelfSigned(ctx, "by-label", "sel", "CN=Selector", P256, 1)
	if err != nil {
		t.Fatal(err)
	}
	id := k.byName["by-label"].id
	_ = k.Close()

	slot := int(id.slot)
	for _, c := range []TokenConfig{
		{Name: "by-serial", Module: cfgs[0].Module, Serial: id.serial, PinFile: cfgs[0].PinFile},
		{Name: "by-slot", Module: cfgs[0].Module, Slot: &slot, PinFile: cfgs[0].PinFile},
	} {
		k := openKeyring(t, []TokenConfig{c})
		for _, uri := range []string{
			"pkcs11:serial=" + id.serial + ";object=sel",
			URI{Slot: &slot, ID: cred.ID}.String(),
			"pkcs11:token=by-label;object=sel", // the token's own label
			"pkcs11:token=" + c.Name + ";object=sel",
			"pkcs11:object=sel", // one token configured
		} {
			got, err := k.Credential(ctx, uri)
			if err != nil {
				t.Fatalf("%s: Credential(%s): %v", c.Name, uri, err)
			}
			if !got.Certificate.Equal(cred.Certificate) || got.URI != cred.URI || got.Token != c.Name {
				t.Fatalf("%s: Credential(%s) = %s on %s", c.Name, uri, got.URI, got.Token)
			}
		}
		got, err := k.Credential(ctx, cred.URI)
		if err != nil {
			t.Fatal(err)
		}
		signAndVerify(t, got, []byte(c.Name))
		// The credential of the closed Keyring does not sign any more; it says why.
		if _, err := cred.Key.Sign(nil, make([]byte, 32), nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("sign through a closed Keyring: %v, want ErrClosed", err)
		}
		if _, err := k.Credential(ctx, "pkcs11:serial=0000;object=sel"); !errors.Is(err, ErrUnknownToken) {
			t.Fatalf("wrong serial: %v", err)
		}
		_ = k.Close()
	}
}
