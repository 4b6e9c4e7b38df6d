package keyring

import (
	"errors"
	"strings"
	"testing"
)

// Choose is the one rule behind the three doors: empty means the purpose's default, anything else is
// checked, and the error says what to give.
func TestPurposeChoose(t *testing.T) {
	for _, tt := range []struct {
		p        Purpose
		kt       KeyType
		days     int
		wantKT   KeyType
		wantDays int
		errSub   string
	}{
		{p: ForSigner, wantKT: P256, wantDays: 365},
		{p: ForCA, wantKT: P384, wantDays: 3650},
		{p: ForSigner, kt: RSA3072, days: 30, wantKT: RSA3072, wantDays: 30},
		{p: ForCA, kt: RSA2048, wantKT: RSA2048, wantDays: 3650},
		{p: ForSigner, days: MaxDays, wantKT: P256, wantDays: MaxDays},
		{p: ForSigner, kt: "ed25519", errSub: `key type "ed25519"; use p256, p384, rsa3072 or rsa2048 (default p256 for a signer)`},
		{p: ForCA, kt: "RSA2048", errSub: "(default p384 for a CA)"},
		{p: ForSigner, days: -1, errSub: "give 1 to 36500 days (default 365 for a signer)"},
		{p: ForCA, days: MaxDays + 1, errSub: "default 3650 for a CA"},
	} {
		kt, days, err := tt.p.Choose(tt.kt, tt.days)
		if tt.errSub != "" {
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.errSub) {
				t.Errorf("%s.Choose(%q, %d) = %v, want ErrInvalidConfig containing %q", tt.p, tt.kt, tt.days, err, tt.errSub)
			}
			continue
		}
		if err != nil || kt != tt.wantKT || days != tt.wantDays {
			t.Errorf("%s.Choose(%q, %d) = %q, %d, %v; want %q, %d", tt.p, tt.kt, tt.days, kt, days, err, tt.wantKT, tt.wantDays)
		}
	}
}

// Every key type Choose accepts has a readable name, and each profile's default is one Choose accepts.
func TestKeyTypesAreGenerated(t *testing.T) {
	for _, kt := range KeyTypes {
		if kt.Description() == string(kt) {
			t.Errorf("key type %s has no description", kt)
		}
	}
	for _, p := range []Purpose{ForSigner, ForCA} {
		if pr := ProfileFor(p); !pr.KeyType.valid() || pr.Days < 1 || pr.Days > MaxDays || pr.IsCA != (p == ForCA) {
			t.Errorf("profile %s is inconsistent: %+v", p, pr)
		}
	}
}
