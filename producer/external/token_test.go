package external

import "testing"

func TestParseTokenTakesOnlyTheShapeItMakes(t *testing.T) {
	tok := newID() + "." + newSecret()
	if id, secret, ok := ParseToken(tok); !ok || id+"."+secret != tok {
		t.Fatalf("a token it made: %q %q %v", id, secret, ok)
	}
	for _, bad := range []string{"", ".", tok[:len(tok)-1], tok + "x", "0123456789ABCDEF." + tok[17:], tok[:16] + "/" + tok[17:],
		tok[:20] + "+" + tok[21:], tok[:20] + "=" + tok[21:]} {
		if _, _, ok := ParseToken(bad); ok {
			t.Errorf("ParseToken(%q) accepted", bad)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add(newID() + "." + newSecret())
	f.Add("0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, ok := ParseToken(s)
		if !ok {
			if id != "" || secret != "" {
				t.Fatalf("refused %q but returned parts", s)
			}
			return
		}
		if id+"."+secret != s || len(id) != idLen || len(secret) != secretLen {
			t.Fatalf("ParseToken(%q) = %q, %q", s, id, secret)
		}
	})
}
