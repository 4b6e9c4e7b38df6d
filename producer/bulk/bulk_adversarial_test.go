package bulk_test

import (
	"context"
	"testing"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/producer/bulk"
)

// An accountant of portal A who names portal B's member_id (the page's form is theirs to change)
// reaches none of B's items: the list is read with the viewer's own token, which B does not know, and
// a selection's manifest names only the portal it was read from, so its grant covers only those.
func TestAttackBulkSelectionCannotReachAnotherPortal(t *testing.T) {
	store := bitrix24.NewMemoryTokenStore()
	a := start(t, store)
	b := start(t, store) // one Signet serving both portals: the same client and token store
	night(a, 20)
	bWon := night(b, 20)
	viewerA := a.NewAuth(emulator.AdminUserID).AccessToken
	f := bulk.Filter{EntityTypeID: bulk.EntityDeal, StageIDs: []string{"C1:WON"}}
	sel, err := bulk.Select(context.Background(), b.client, b.MemberID(), viewerA, f, emulator.DealFileField, 0)
	if err == nil {
		t.Fatalf("portal A's viewer listed portal B's items: %d of %d", len(sel.Items), len(bWon))
	}
	if !bitrix24.IsCode(err, bitrix24.ErrCodeInvalidToken) && !bitrix24.IsCode(err, bitrix24.ErrCodeExpiredToken) {
		t.Errorf("portal B's answer to A's token: %v, want an authentication refusal", err)
	}
	own, err := bulk.Select(context.Background(), b.client, a.MemberID(), viewerA, f, emulator.DealFileField, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, err := own.Manifest("bulk:a")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Documents {
		if d.Portal != a.MemberID() {
			t.Fatalf("portal A's selection names portal %s", d.Portal)
		}
	}
	if len(m.Documents) != len(own.Items) {
		t.Fatalf("the manifest has %d documents for %d selected items: the grant would cover more than was shown", len(m.Documents), len(own.Items))
	}
}
