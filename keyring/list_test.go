package keyring

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestListTwelveCredentials(t *testing.T) {
	_, cfgs := softhsmStore(t, "staff", "other")
	k := openKeyring(t, cfgs)
	ctx := context.Background()
	var want []string
	for i := 1; i <= 12; i++ {
		kt := P256
		if i%4 == 0 {
			kt = RSA2048
		}
		label := fmt.Sprintf("employee-%02d", i)
		if _, err := k.GenerateSelfSigned(ctx, "staff", label, fmt.Sprintf("CN=Сотрудник %d,O=Acme,C=RU", i), kt, 90); err != nil {
			t.Fatal(err)
		}
		want = append(want, label)
	}
	if _, err := k.GenerateSelfSigned(ctx, "other", "elsewhere", "CN=Elsewhere", P256, 90); err != nil {
		t.Fatal(err)
	}
	got, err := k.List(ctx, "staff")
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, c := range got {
		if c.Token != "staff" || c.Certificate == nil || c.Key == nil {
			t.Fatalf("incomplete credential %+v", c)
		}
		if !strings.HasPrefix(c.Certificate.Subject.CommonName, "Сотрудник ") {
			t.Fatalf("subject %q", c.Certificate.Subject.CommonName)
		}
		labels = append(labels, c.Label)
	}
	sort.Strings(labels)
	if strings.Join(labels, ",") != strings.Join(want, ",") {
		t.Fatalf("List(staff) = %v, want %v", labels, want)
	}
	// Every listed credential signs, and resolves again by its URI.
	for _, c := range got {
		signAndVerify(t, c, []byte(c.URI))
		again, err := k.Credential(ctx, c.URI)
		if err != nil || !again.Certificate.Equal(c.Certificate) {
			t.Fatalf("Credential(%s) = %v", c.URI, err)
		}
	}
	all, err := k.List(ctx, "")
	if err != nil || len(all) != 13 {
		t.Fatalf("List(all) = %d credentials, %v; want 13", len(all), err)
	}
	if _, err := k.List(ctx, "nope"); !errors.Is(err, ErrUnknownToken) {
		t.Fatalf("List(nope) = %v", err)
	}
}

func TestCheckValid(t *testing.T) {
	_, cfgs := softhsmStore(t, "validity")
	k := openKeyring(t, cfgs)
	ctx := context.Background()
	now := time.Now()
	cases := []struct {
		label string
		v     validity
		want  error
	}{
		{"current", validity{now.Add(-time.Hour), now.Add(time.Hour)}, nil},
		{"expired", validity{now.Add(-48 * time.Hour), now.Add(-24 * time.Hour)}, ErrExpired},
		{"future", validity{now.Add(24 * time.Hour), now.Add(48 * time.Hour)}, ErrNotYetValid},
	}
	for _, c := range cases {
		cred, err := k.generate(ctx, "validity", c.label, "CN=Validity "+c.label, P256, c.v, ForSigner, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = cred.CheckValid(now)
		if !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
			t.Fatalf("%s: CheckValid = %v, want %v", c.label, err, c.want)
		}
		if err != nil && (!strings.Contains(err.Error(), "Validity "+c.label) || !strings.Contains(err.Error(), cred.URI)) {
			t.Fatalf("%s: error %q does not name the certificate and credential", c.label, err)
		}
	}
}
