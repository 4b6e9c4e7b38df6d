package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
)

// The public /verify/{id} page reads the audit trail through a consumer per view. A stream holds at
// most 1,000 consumers (the server's default), and nats.go keeps an idle ordered consumer for five
// minutes: 1,100 views in a row left AUDIT unreadable for everyone ("maximum consumers limit
// reached"). Each view now deletes its consumer: every view answers and none is left behind.
func TestAttackVerifyPageExhaustsConsumers(t *testing.T) {
	s := startAuditStream(t)
	ctx := context.Background()
	if _, err := audit.NewWriter(s.JS, nil, audit.Options{}).Append(ctx, contracts.AuditEvent{Action: contracts.AuditRequestAccepted, JobID: "r42", Login: "mary"}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /verify/{id}", TrailPage(s.JS, "", nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for i := range 1100 {
		resp, err := http.Get(srv.URL + "/verify/r42")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("view %d: HTTP %d", i+1, resp.StatusCode)
		}
	}
	st, err := s.JS.Stream(ctx, contracts.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each view deletes its consumer; on a loaded machine nats.go's ordered consumer may have
	// replaced one mid-read, and that one goes by the idle threshold. A view that never deleted its
	// consumer would leave 1,100 here, past the stream's 1,000.
	if info.State.Consumers > 5 {
		t.Errorf("%d consumers left on AUDIT after 1,100 views (at most 5 may wait for the idle threshold)", info.State.Consumers)
	}
}
