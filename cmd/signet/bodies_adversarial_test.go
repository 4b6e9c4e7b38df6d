package main

// Oversized bodies (issue 15, must 7 and 8: "body, parameter and depth limits — already there, keep
// them"). Every endpoint that takes a body is sent 64 MiB — without credentials, and for the admin API
// with the administrator's token, where the handler itself must bound what it reads. Each is refused,
// the server reads a bounded part of the body (counted on the sending side), and nothing is queued,
// stored or sent; the server keeps answering.

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
)

const (
	hugeBody = 64 << 20
	// readBound is what the server may take of a refused body: the largest handler limit (the control
	// panel's 2 MiB, /verify's worker.max_pdf_bytes is set below), Go's 256 KB drain before closing,
	// and the loopback socket buffers that fill before the sender learns the server stopped reading.
	readBound = 24 << 20
)

// endlessBody is prefix followed by filler up to n bytes; sent counts what the transport took.
type endlessBody struct {
	prefix string
	n, off int64
	sent   *atomic.Int64
}

func (b *endlessBody) Read(p []byte) (int, error) {
	if b.off >= b.n {
		return 0, io.EOF
	}
	k := int64(len(p))
	if k > b.n-b.off {
		k = b.n - b.off
	}
	for i := range p[:k] {
		if pos := b.off + int64(i); pos < int64(len(b.prefix)) {
			p[i] = b.prefix[pos]
		} else {
			p[i] = 'x'
		}
	}
	b.off += k
	b.sent.Add(k)
	return int(k), nil
}

func TestAttackOversizedBodies(t *testing.T) {
	e := startB24(t, emulator.Config{}, "--worker-max-pdf-bytes", "4194304")
	e.addUser(t, "mary", 7, true, e.cfg.Demo.Credential)
	tok, err := loadOrCreateSecret(e.cfg.Security.AdminTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	bearer := "Bearer " + hex.EncodeToString(tok)
	callsBefore := len(e.portal.Calls())
	usersBefore, err := e.a.identity.ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	const form, js = "application/x-www-form-urlencoded", "application/json"
	cases := []struct {
		method, path, ctype, auth, prefix string
	}{
		{"POST", "/bitrix24/robot", form, "", "event_token="},
		{"POST", "/bitrix24/install", form, "", "event=ONAPPINSTALL&auth[member_id]="},
		{"POST", "/bitrix24/placement", form, "", "PLACEMENT=CRM_DEAL_DETAIL_TOOLBAR&AUTH_ID="},
		{"POST", "/bitrix24/placement/sign", form, "", "ctx="},
		{"POST", "/verify", "multipart/form-data; boundary=b", "", "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.7\n"},
		{"POST", "/enrol/0123456789abcdef0123456789abcdef", form, "", "code="},
		{"POST", "/admin/login", form, "", "login=alice&password="},
		{"POST", "/admin/bitrix24", form, "", "AUTH_ID="},
		{"POST", "/admin/portal-session", form, "", "ticket="},
		{"POST", "/admin/users", form, "", "login="},
		{"POST", "/v1/grants", js, "", `{"login":"`},
		{"POST", "/v1/admin/users", js, "", `{"login":"`},
		// With the administrator's token the handler runs: its own limit must hold.
		{"POST", "/v1/grants", js, bearer, `{"login":"`},
		{"POST", "/v1/admin/users", js, bearer, `{"login":"`},
		{"PATCH", "/v1/admin/users/mary", js, bearer, `{"description":"`},
		{"POST", "/v1/admin/users/mary/credentials", js, bearer, `{"credential":"`},
		{"POST", "/v1/admin/credentials/assign", js, bearer, `{"credential":"`},
		{"POST", "/v1/admin/credentials/self-signed", js, bearer, `{"token":"`},
		{"POST", "/v1/admin/credentials/import", js, bearer, `{"key":"`},
	}
	for _, c := range cases {
		for _, chunked := range []bool{true, false} {
			name := c.method + " " + c.path
			if c.auth != "" {
				name += " (administrator)"
			}
			sent := new(atomic.Int64)
			req, err := http.NewRequest(c.method, e.cfg.PublicURL+c.path, &endlessBody{prefix: c.prefix, n: hugeBody, sent: sent})
			if err != nil {
				t.Fatal(err)
			}
			if !chunked {
				req.ContentLength = hugeBody
			}
			req.Header.Set("Content-Type", c.ctype)
			req.Header.Set("Origin", e.cfg.PublicURL)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				if resp.StatusCode < 400 || resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("%s, 64 MiB (chunked %v): HTTP %d; want a refusal", name, chunked, resp.StatusCode)
				}
			} // else: the server closed the connection after its limit, also a refusal
			if n := sent.Load(); n > readBound {
				t.Errorf("%s (chunked %v): the server took %d MiB of a 64 MiB body; want at most %d MiB", name, chunked, n>>20, readBound>>20)
			}
		}
	}

	var queued uint64
	for _, name := range []string{contracts.StreamSign, contracts.StreamCallback} {
		st, err := e.a.js.Stream(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		queued += info.State.Msgs
	}
	if n := queued; n != 0 {
		t.Fatalf("oversized bodies queued %d messages", n)
	}
	if users, _ := e.a.identity.ListUsers(context.Background()); len(users) != len(usersBefore) {
		t.Fatalf("oversized bodies changed the users: %d before, %d after", len(usersBefore), len(users))
	}
	if d := len(e.portal.Calls()) - callsBefore; d != 0 {
		t.Fatalf("oversized bodies made %d REST calls to the portal", d)
	}
	resp, err := http.Get(e.cfg.PublicURL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the server after the oversized bodies: %v", err)
	}
	resp.Body.Close()
}
