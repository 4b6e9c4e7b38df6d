package worker

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/pades"
)

// signing.tsa_url reaches the signature (issue 17 must 2), and the two ways a timestamp authority
// fails are told apart: one that refuses (HTTP 403 here; PKIStatus rejection in
// worker/pades/tsa_refusal_test.go) fails the job at once, one that is down (503) is asked again on
// every delivery until JetStream gives up.
func TestTimestampAuthorityRefusalIsFinalOutageRetried(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		wantCalls int64
		wantWords string
	}{
		{"refusing", http.StatusForbidden, 1, "refused the request"},
		{"down", http.StatusServiceUnavailable, 3, "gave up after 3 attempts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var calls atomic.Int64
			tsa := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				calls.Add(1)
				http.Error(w, tc.name, tc.status)
			}))
			defer tsa.Close()
			r := newForgeRig(t, ctx, func(s *Signer) { s.TSA = pades.HTTPTimestamper{URL: tsa.URL} })
			j := r.job("tsa-" + tc.name)
			r.intake.Sign(j, time.Now())
			r.publish(j)
			r.waitFor("the workflow told", func() bool { return len(r.portal.EventsSent()[j.Reply.EventToken]) == 1 })
			r.waitFor("the job in DEAD", func() bool { return r.streamMsgs(contracts.StreamDead, contracts.SubjectDeadAll) == 1 })
			if got := calls.Load(); got != tc.wantCalls {
				t.Errorf("the authority was asked %d times, want %d", got, tc.wantCalls)
			}
			if v := fmt.Sprint(r.portal.EventsSent()[j.Reply.EventToken][0]); !strings.Contains(v, tc.wantWords) || !strings.Contains(v, "timestamp authority") {
				t.Errorf("the workflow was told %v, want %q about the timestamp authority", v, tc.wantWords)
			}
			if n := r.storedFiles(); n != 0 {
				t.Errorf("a signature without its timestamp stored %d files", n)
			}
		})
	}
}
