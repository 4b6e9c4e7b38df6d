package contracts

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// A failed callback carries its failure's kind and facts there and back; one written before kinds
// (no "failure") and one with a kind of a newer Signet still decode, and are told by their Error.
func TestCallbackFailureRoundTrip(t *testing.T) {
	c := NewCallback(sampleJob(), nil, "deal 1188 has no field UF_CRM_7; check the robot's document property", time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC))
	c.Failure = &Failure{Kind: FailureNoField, Item: 1188, Field: "UF_CRM_7"}
	data, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"failure":{"kind":"no_field","item":1188,"field":"UF_CRM_7"}`) {
		t.Errorf("the failure is not written with only the facts its kind has: %s", data)
	}
	got, err := DecodeCallback(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip changed the callback:\n got %+v\nwant %+v", got, c)
	}
	old := strings.Replace(string(data), `"failure":{"kind":"no_field","item":1188,"field":"UF_CRM_7"},`, "", 1)
	if got, err := DecodeCallback([]byte(old)); err != nil || got.Failure != nil || got.Error != c.Error {
		t.Errorf("a callback without a kind: %+v, %v", got, err)
	}
	newer := strings.Replace(string(data), `"kind":"no_field"`, `"kind":"quantum_noise"`, 1)
	if got, err := DecodeCallback([]byte(newer)); err != nil || got.Failure.Kind.Known() {
		t.Errorf("a callback with a kind of a newer Signet: %+v, %v", got, err)
	}
}

func TestFailureKindsAreOneClosedSet(t *testing.T) {
	seen := map[FailureKind]bool{}
	for _, k := range FailureKinds {
		if seen[k] || k == "" || strings.ToLower(string(k)) != string(k) || !k.Known() {
			t.Errorf("kind %q is repeated, empty, not lower case or unknown", k)
		}
		seen[k] = true
	}
	if FailureKind("not a kind").Known() {
		t.Error("an unknown kind is known")
	}
}
