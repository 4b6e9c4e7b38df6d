package bitrix24

import (
	"errors"
	"net/url"
	"reflect"
	"testing"
)

func TestDecodeForm(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]any
	}{
		{"empty", "", map[string]any{}},
		{"plain", "code=sign_pdf&ts=1", map[string]any{"code": "sign_pdf", "ts": "1"}},
		{"empty value", "a=", map[string]any{"a": ""}},
		{"nested map", "auth%5Baccess_token%5D=x&auth%5Bmember_id%5D=m",
			map[string]any{"auth": map[string]any{"access_token": "x", "member_id": "m"}}},
		{"indexed list", "document_id[0]=crm&document_id[1]=CCrmDocumentDeal&document_id[2]=DEAL_1",
			map[string]any{"document_id": []any{"crm", "CCrmDocumentDeal", "DEAL_1"}}},
		{"append list", "a[]=x&a[]=y", map[string]any{"a": []any{"x", "y"}}},
		{"append empty", "a[]=", map[string]any{"a": []any{""}}},
		{"multiple property values", "properties[k][0]=1&properties[k][1]=2&properties[s]=v",
			map[string]any{"properties": map[string]any{"k": []any{"1", "2"}, "s": "v"}}},
		{"sparse index stays a map", "p[1]=b&p[3]=d", map[string]any{"p": map[string]any{"1": "b", "3": "d"}}},
		{"repeated plain key", "k=a&k=b", map[string]any{"k": []any{"a", "b"}}},
		{"three levels", "a[b][c]=1&a[b][d]=2", map[string]any{"a": map[string]any{"b": map[string]any{"c": "1", "d": "2"}}}},
		{"list of maps", "cmd[][m]=x&cmd[][m]=y", map[string]any{"cmd": []any{map[string]any{"m": "x"}, map[string]any{"m": "y"}}}},
		{"leading zero is a key", "a[00]=x", map[string]any{"a": map[string]any{"00": "x"}}},
		{"unicode", "name=%D0%9F%D0%BE%D0%B4%D0%BF%D0%B8%D1%81%D0%B0%D1%82%D1%8C", map[string]any{"name": "Подписать"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := url.ParseQuery(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeForm(v)
			if err != nil {
				t.Fatalf("DecodeForm(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("DecodeForm(%q)\n got %#v\nwant %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestDecodeFormRejects(t *testing.T) {
	for _, in := range []string{
		"a[b=1",        // unclosed
		"[a]=1",        // no name
		"a]=1",         // stray ]
		"a[b]c=1",      // text after ]
		"a=1&a[b]=2",   // value and container
		"a[b]=1&a[]=2", // map then append
		"a[x[y]]=1",    // nested [
		"a[][]=1",      // list in list
		"a[][b][c][d][e][f][g][h][i][j][k][l][m][n][o][p][q][r][s][t][u][v][w][x][y][z][1][2][3][4][5][6][7]=1", // too deep
	} {
		v, err := url.ParseQuery(in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeForm(v); !errors.Is(err, ErrMalformedForm) {
			t.Errorf("DecodeForm(%q) err = %v, want ErrMalformedForm", in, err)
		}
	}
}

func TestEncodeFormRoundTrip(t *testing.T) {
	in := map[string]any{
		"event_token": "a|b|c.d",
		"auth":        map[string]any{"access_token": "t", "member_id": "m"},
		"document_id": []any{"crm", "CCrmDocumentDeal", "DEAL_7"},
		"properties":  map[string]any{"files": []any{"1", "2"}, "empty": ""},
		"cmd":         []any{map[string]any{"m": "x"}},
	}
	got, err := DecodeForm(EncodeForm(in))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip\n got %#v\nwant %#v", got, in)
	}
}

func TestEncodeFormScalars(t *testing.T) {
	v := EncodeForm(map[string]any{"t": true, "f": false, "n": nil, "i": 42, "x": 1.5, "s": []string{"a"}, "m": map[string]string{"k": "v"}})
	want := url.Values{"t": {"1"}, "f": {"0"}, "n": {""}, "i": {"42"}, "x": {"1.5"}, "s[0]": {"a"}, "m[k]": {"v"}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %v want %v", v, want)
	}
}
