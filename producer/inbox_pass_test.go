package producer

import (
	"strings"
	"testing"
	"time"
)

// A pass names one portal and one user for an hour; a changed byte, another portal, another key or
// an hour later and it is nothing.
func TestInboxPassIsBoundAndExpires(t *testing.T) {
	c := newClock(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
	in := &Intake{FormKey: []byte("0123456789abcdef0123456789abcdef"), Now: c.now}
	pass := in.InboxPass("m1", 7)
	if uid, ok := in.inboxPassUser("m1", pass); !ok || uid != 7 {
		t.Fatalf("a fresh pass: user %d, %v", uid, ok)
	}
	b64, mac, _ := strings.Cut(pass, ".")
	other := &Intake{FormKey: []byte("fedcba9876543210fedcba9876543210"), Now: c.now}
	for name, p := range map[string]string{
		"another portal": "",
		"tampered mac":   b64 + "." + strings.Repeat("A", len(mac)),
		"no mac":         b64,
		"another key":    other.InboxPass("m1", 7),
	} {
		member := "m1"
		if name == "another portal" {
			member, p = "m2", pass
		}
		if _, ok := in.inboxPassUser(member, p); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	c.add(inboxPassTTL + time.Second)
	if _, ok := in.inboxPassUser("m1", pass); ok {
		t.Fatal("an expired pass: accepted")
	}
	if (&Intake{}).InboxPass("m1", 7) != "" {
		t.Fatal("a pass without a form key")
	}
}
