package identity

import "testing"

func TestUserPortal(t *testing.T) {
	for _, c := range []struct {
		ids  map[string]int
		want string
	}{
		{nil, ""},
		{map[string]int{"a": 1}, "a"},
		{map[string]int{"a": 1, "b": 2}, ""},
	} {
		u := User{Login: "x", BitrixIDs: c.ids}
		if got := u.Portal(); got != c.want || u.BelongsTo("") {
			t.Errorf("%v: Portal() = %q, want %q", c.ids, got, c.want)
		}
	}
}
