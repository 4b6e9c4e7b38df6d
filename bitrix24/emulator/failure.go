package emulator

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/signet-b24/signet/bitrix24"
)

// Failure is fault injection. SetFailure replaces the pending per-call faults with these and runs the
// one-shot actions (MoveDomain, ExpireTokens, OperationLimit) at once.
type Failure struct {
	// The next Calls REST calls (of Method, or any method when empty) answer Status with Code
	// (default 503 QUERY_LIMIT_EXCEEDED "Too many requests") without executing.
	Calls       int
	Method      string
	Status      int
	Code        string
	Description string

	// The next DelayCalls REST calls run, then hold their answer back for Delay: the client times
	// out on a call that did happen.
	Delay      time.Duration
	DelayCalls int

	// The next BatchTimes executions of the batch command with id BatchCommand fail with BatchCode
	// (default QUERY_LIMIT_EXCEEDED) in result_error, without executing.
	BatchCommand string
	BatchCode    string
	BatchTimes   int

	// MoveDomain starts a second listener; from then on the old host answers every request with
	// 302 to the new one (reference §8.2). BaseURL reports the new address.
	MoveDomain bool
	// ExpireTokens makes every access token issued so far expired (401 expired_token).
	ExpireTokens bool
	// OperationLimit blocks OperationLimitMethod (lower case, e.g. "crm.item.get") with
	// 429 OPERATION_TIME_LIMIT for that long; its operating_reset_at becomes the unblock time.
	OperationLimit       time.Duration
	OperationLimitMethod string
}

type failState struct {
	calls               int
	method, code, desc  string
	status              int
	delay               time.Duration
	delayCalls          int
	batchCmd, batchCode string
	batchTimes          int
	opBlocked           map[string]time.Time
}

// SetFailure installs f (see Failure). It panics only if MoveDomain cannot listen on 127.0.0.1.
func (p *Portal) SetFailure(f Failure) {
	if f.MoveDomain {
		if err := p.moveDomain(); err != nil {
			panic(err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	op := p.fail.opBlocked
	if op == nil {
		op = map[string]time.Time{}
	}
	p.fail = failState{
		calls: f.Calls, method: strings.ToLower(f.Method), status: f.Status, code: f.Code, desc: f.Description,
		delay: f.Delay, delayCalls: f.DelayCalls,
		batchCmd: f.BatchCommand, batchCode: f.BatchCode, batchTimes: f.BatchTimes, opBlocked: op,
	}
	if p.fail.status == 0 {
		p.fail.status = http.StatusServiceUnavailable
	}
	if p.fail.code == "" {
		p.fail.code = bitrix24.ErrCodeQueryLimitExceeded
		if p.fail.desc == "" {
			p.fail.desc = "Too many requests"
		}
	}
	if p.fail.batchCode == "" {
		p.fail.batchCode = bitrix24.ErrCodeQueryLimitExceeded
	}
	if f.ExpireTokens {
		past := time.Now().Add(-time.Second)
		for _, t := range p.access {
			t.expires = past
		}
	}
	if f.OperationLimit > 0 && f.OperationLimitMethod != "" {
		m := strings.ToLower(f.OperationLimitMethod)
		until := time.Now().Add(f.OperationLimit)
		op[m] = until
		p.opReset[m] = until
	}
}

func (p *Portal) moveDomain() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("emulator: move domain: listen on 127.0.0.1: %w", err)
	}
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second}
	p.mu.Lock()
	p.oldHosts[p.domain] = true
	p.domain = ln.Addr().String()
	delete(p.oldHosts, p.domain)
	p.servers = append(p.servers, srv)
	p.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

func (p *Portal) takeDelay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail.delayCalls <= 0 {
		return 0
	}
	p.fail.delayCalls--
	return p.fail.delay
}

func (p *Portal) injectedLocked(name string) *apiError {
	if p.fail.calls <= 0 || (p.fail.method != "" && p.fail.method != name) {
		return nil
	}
	p.fail.calls--
	return &apiError{status: p.fail.status, code: p.fail.code, desc: p.fail.desc}
}

// batchInjectedLocked fails the batch command id if a fault is pending for it.
func (p *Portal) batchInjectedLocked(id string) *apiError {
	if p.fail.batchTimes <= 0 || p.fail.batchCmd != id {
		return nil
	}
	p.fail.batchTimes--
	desc := "Injected failure"
	if strings.EqualFold(p.fail.batchCode, bitrix24.ErrCodeQueryLimitExceeded) {
		desc = "Too many requests"
	}
	return &apiError{status: 503, code: p.fail.batchCode, desc: desc}
}
