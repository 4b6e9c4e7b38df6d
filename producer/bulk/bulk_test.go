package bulk_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/producer/bulk"
)

type portal struct {
	*emulator.Portal
	client *bitrix24.Client
}

// start runs an emulated portal with deals and a REST client that knows it, as `signet serve` does
// after the install event.
func start(t *testing.T, stores ...*bitrix24.MemoryTokenStore) portal {
	t.Helper()
	p := emulator.New(emulator.Config{RatePerSec: 1000, Burst: 1000})
	if _, err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	store := bitrix24.NewMemoryTokenStore()
	if len(stores) > 0 {
		store = stores[0]
	}
	if err := store.Save(context.Background(), p.NewAuth(emulator.AdminUserID)); err != nil {
		t.Fatal(err)
	}
	c := bitrix24.NewClient(bitrix24.ClientConfig{ClientID: p.ClientID(), ClientSecret: p.ClientSecret(), OAuthURL: p.OAuthURL(),
		AllowPrivate: true, RatePerSec: 1000, Burst: 1000}, store)
	return portal{Portal: p, client: c}
}

var pdf = []byte("%PDF-1.4\n%%EOF\n")

// night adds n deals: even ones WON in pipeline 1 on 2026-11-20, odd ones NEW; every seventh has no
// file. It returns the WON deals that have a file.
func night(p portal, n int) []int {
	var want []int
	for i := 0; i < n; i++ {
		stage, cat, day := "C1:NEW", 1, "2026-11-19T12:00:00+00:00"
		if i%2 == 0 {
			stage, day = "C1:WON", "2026-11-20T12:00:00+00:00"
		}
		id := p.AddItem(emulator.EntityDeal, map[string]any{"title": fmt.Sprintf("Act %d", i), "stageId": stage,
			"categoryId": cat, "createdTime": day, "assignedById": 7})
		if i%7 == 0 {
			continue
		}
		p.AddDealFile(id, fmt.Sprintf("act-%d.pdf", i), pdf)
		if stage == "C1:WON" {
			want = append(want, id)
		}
	}
	return want
}

func day(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }

// The filter reaches crm.item.list with the documented operators, every page is read (more than 50
// items), items without a file are counted and left out, and the manifest names exactly the items.
func TestSelectReadsEveryPageOfTheFilter(t *testing.T) {
	p := start(t)
	want := night(p, 260)
	one := 1
	f := bulk.Filter{EntityTypeID: bulk.EntityDeal, CategoryID: &one, StageIDs: []string{"C1:WON"},
		CreatedFrom: day("2026-11-20"), CreatedTo: day("2026-11-21"), AssignedByID: 7}
	viewer := p.NewAuth(emulator.AdminUserID).AccessToken
	sel, err := bulk.Select(context.Background(), p.client, p.MemberID(), viewer, f, emulator.DealFileField, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Items) != len(want) || len(want) <= 100 {
		t.Fatalf("selected %d items, want %d (over two pages)", len(sel.Items), len(want))
	}
	for i, it := range sel.Items {
		if it.ID != want[i] || it.Stage != "C1:WON" || it.FileID == 0 {
			t.Fatalf("item %d: %+v, want deal %d WON with its file", i, it, want[i])
		}
	}
	if sel.WithoutFile == 0 {
		t.Error("WON deals without a file were not counted")
	}
	m, err := sel.Manifest("bulk:test")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Documents) != len(want) {
		t.Fatalf("manifest has %d documents, want %d", len(m.Documents), len(want))
	}
	for i, d := range m.Documents {
		if d.Portal != p.MemberID() || d.EntityTypeID != 2 || d.EntityID != want[i] || d.FileField != emulator.DealFileField || d.FileID != sel.Items[i].FileID {
			t.Fatalf("manifest document %d: %+v", i, d)
		}
		if d.WriteBack != "" {
			t.Fatalf("manifest document %d: write_back %q in the default mode, want empty (replace)", i, d.WriteBack)
		}
	}
	sel.Mode = bulk.ModeLink
	if m, err = sel.Manifest("bulk:test-link"); err != nil {
		t.Fatal(err)
	}
	for i, d := range m.Documents {
		if d.WriteBack != "link" {
			t.Fatalf("manifest document %d in link mode: write_back %q, want link", i, d.WriteBack)
		}
	}
	if _, err := bulk.Select(context.Background(), p.client, p.MemberID(), viewer, f, emulator.DealFileField, 10); err == nil {
		t.Error("a selection over max was accepted; it must ask to narrow the filter")
	}
	f.CreatedTo = day("2026-11-01")
	if _, err := bulk.Select(context.Background(), p.client, p.MemberID(), viewer, f, emulator.DealFileField, 0); err == nil {
		t.Error("an end date before the start date was accepted")
	}
	if _, err := bulk.Select(context.Background(), p.client, p.MemberID(), viewer, bulk.Filter{EntityTypeID: 3}, emulator.DealFileField, 0); err == nil {
		t.Error("entity type 3 (contacts, no documents to sign) was accepted")
	}
}

// The page states the portal budget before starting (issue 19, must 3): 10,000 documents replaced
// at a standard plan's 2 requests/s take about 83 minutes; kept in Signet's storage with a link
// written into the items, 50 items a batch request, 200 requests.
func TestEstimateStatesThePortalBudget(t *testing.T) {
	r := bulk.Estimate(10_000, bulk.ModeReplace, 2)
	if r.Requests != 10_000 || r.Duration.Round(time.Minute) != 83*time.Minute {
		t.Errorf("replace: %+v, want 10000 requests, about 83 min", r)
	}
	l := bulk.Estimate(10_000, bulk.ModeLink, 2)
	if l.Requests != 200 || l.Duration != 100*time.Second {
		t.Errorf("link: %+v, want 200 batch requests, 100 s", l)
	}
	if e := bulk.Estimate(51, bulk.ModeLink, 5); e.Requests != 2 || e.Duration != time.Second {
		t.Errorf("51 at 5/s as links: %+v, want 2 requests, 1 s", e)
	}
}
