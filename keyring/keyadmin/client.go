package keyadmin

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/ocsp"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/keyring"
)

// Client is keyring.Admin for a process without tokens: every operation is a request to the workers.
type Client struct {
	NC *nats.Conn
	// Gather is how long a request to every worker waits for their answers (default 2 s); it ends
	// sooner once answers stop coming for Quiet (default 300 ms).
	Gather, Quiet time.Duration
}

var _ keyring.Admin = (*Client)(nil)

// ErrNoWorker: no worker answered; the request found no token.
var ErrNoWorker = errors.New("no worker answered")

// one asks the one worker holding token (queue group) and returns its reply.
func (c *Client) one(ctx context.Context, token string, req request) (reply, error) {
	req.V, req.Actor = 1, keyring.Actor(ctx)
	b, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(ctx, opTimeout+5*time.Second)
	defer cancel()
	m, err := c.NC.RequestWithContext(ctx, tokenSubject(token), b)
	if errors.Is(err, nats.ErrNoResponders) {
		return reply{}, fmt.Errorf("%w: no running worker holds token %q (is the worker with that token running?)", keyring.ErrUnknownToken, token)
	}
	if err != nil {
		return reply{}, fmt.Errorf("%w: asking the workers for token %q: %v", keyring.ErrTokenOffline, token, err)
	}
	var r reply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return reply{}, fmt.Errorf("a worker's answer is unreadable (%v); intake and worker must run the same Signet version", err)
	}
	return r, replyError(r)
}

// all asks every worker and returns the replies that came.
func (c *Client) all(ctx context.Context, req request) ([]reply, error) {
	req.V, req.Actor = 1, keyring.Actor(ctx)
	b, _ := json.Marshal(req)
	inbox := c.NC.NewRespInbox()
	sub, err := c.NC.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := c.NC.PublishRequest(contracts.SubjectKeysAll, inbox, b); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(cmp.Or(c.Gather, 2*time.Second))
	quiet := cmp.Or(c.Quiet, 300*time.Millisecond)
	var out []reply
	for {
		wait := time.Until(deadline)
		if len(out) > 0 {
			wait = min(wait, quiet)
		}
		if wait <= 0 {
			break
		}
		m, err := sub.NextMsgWithContext(ctxTimeout(ctx, wait))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			break // no more answers within the wait
		}
		var r reply
		if json.Unmarshal(m.Data, &r) == nil {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %w (start a worker with the tokens, or check its NATS permissions)", keyring.ErrTokenOffline, ErrNoWorker)
	}
	return out, nil
}

// ctxTimeout is ctx bounded by d; the timer is released when ctx or d ends.
func ctxTimeout(ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	go func() { <-c.Done(); cancel() }()
	return c
}

// firstSuccess is the first reply without an error, or the most telling error: a token's own
// answer beats "not on this worker".
func firstSuccess(rs []reply) (reply, error) {
	var best error
	for _, r := range rs {
		err := replyError(r)
		if err == nil {
			return r, nil
		}
		if best == nil || (errors.Is(best, keyring.ErrUnknownToken) && !errors.Is(err, keyring.ErrUnknownToken)) {
			best = err
		}
	}
	return reply{}, best
}

// Status is every worker's tokens, one line a token: online when any worker has it online.
func (c *Client) Status() []keyring.TokenStatus {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rs, err := c.all(ctx, request{Op: opStatus})
	if err != nil {
		return nil
	}
	var out []keyring.TokenStatus
	at := map[string]int{}
	for _, r := range rs {
		for _, t := range r.Tokens {
			i, seen := at[t.Name]
			switch {
			case !seen:
				at[t.Name] = len(out)
				out = append(out, t)
			case t.Online && !out[i].Online:
				out[i] = t
			}
		}
	}
	return out
}

func credentials(r reply) ([]*keyring.Credential, error) {
	out := make([]*keyring.Credential, 0, len(r.Credentials))
	for _, w := range r.Credentials {
		c, err := fromWire(w)
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}

// List is the credentials of token, or of every worker's tokens ("").
func (c *Client) List(ctx context.Context, token string) ([]*keyring.Credential, error) {
	if token != "" {
		r, err := c.one(ctx, token, request{Op: opList, Token: token})
		if err != nil {
			return nil, err
		}
		return credentials(r)
	}
	rs, err := c.all(ctx, request{Op: opList})
	if err != nil {
		return nil, err
	}
	var out []*keyring.Credential
	seen := map[string]bool{}
	var errs []error
	for _, r := range rs {
		if err := replyError(r); err != nil {
			errs = append(errs, err)
			continue
		}
		creds, err := credentials(r)
		if err != nil {
			errs = append(errs, err)
		}
		for _, cr := range creds {
			if !seen[cr.URI] { // a token two workers share (a network HSM) is listed once
				seen[cr.URI] = true
				out = append(out, cr)
			}
		}
	}
	return out, errors.Join(errs...)
}

// tokenOf is the token a URI names.
func tokenOf(uri string) (string, error) {
	u, err := keyring.ParseURI(uri)
	if err != nil {
		return "", err
	}
	if u.Token == "" {
		return "", fmt.Errorf("%w: %s names no token (token=…)", keyring.ErrInvalidURI, uri)
	}
	return u.Token, nil
}

func (c *Client) oneCredential(ctx context.Context, token string, req request) (*keyring.Credential, error) {
	r, err := c.one(ctx, token, req)
	if err != nil {
		return nil, err
	}
	creds, err := credentials(r)
	if err != nil {
		return nil, err
	}
	if len(creds) != 1 {
		return nil, fmt.Errorf("a worker answered %d credentials, want 1", len(creds))
	}
	return creds[0], nil
}

// Credential is the credential at uri, without its key.
func (c *Client) Credential(ctx context.Context, uri string) (*keyring.Credential, error) {
	token, err := tokenOf(uri)
	if err != nil {
		return nil, err
	}
	return c.oneCredential(ctx, token, request{Op: opCredential, URI: uri})
}

func (c *Client) GenerateSelfSigned(ctx context.Context, token, label, subject string, kt keyring.KeyType, days int) (*keyring.Credential, error) {
	return c.oneCredential(ctx, token, request{Op: opSelfSigned, Token: token, Label: label, Subject: subject, KeyType: string(kt), Days: days})
}

func (c *Client) InitCA(ctx context.Context, token, label, subject string, kt keyring.KeyType, days int) (*keyring.Credential, error) {
	return c.oneCredential(ctx, token, request{Op: opInitCA, Token: token, Label: label, Subject: subject, KeyType: string(kt), Days: days})
}

// Issue asks the worker holding token, which must also hold the CA's token.
func (c *Client) Issue(ctx context.Context, caURI, token, label, subject string, kt keyring.KeyType, days int) (*keyring.Credential, error) {
	return c.oneCredential(ctx, token, request{Op: opIssue, CA: caURI, Token: token, Label: label, Subject: subject, KeyType: string(kt), Days: days})
}

func (c *Client) ImportCertificate(ctx context.Context, uri string, cert *x509.Certificate, chain []*x509.Certificate) error {
	token, err := tokenOf(uri)
	if err != nil {
		return err
	}
	req := request{Op: opImport, URI: uri, CertDER: cert.Raw}
	for _, x := range chain {
		req.ChainDER = append(req.ChainDER, x.Raw)
	}
	_, err = c.one(ctx, token, req)
	return err
}

// Revocation asks the worker of the URI's token, or, for a serial, every worker (the one whose CA
// issued it answers).
func (c *Client) Revocation(ctx context.Context, serialOrURI string, reason int) (contracts.Revocation, error) {
	req := request{Op: opRevocation, URI: serialOrURI, Reason: reason}
	var r reply
	var err error
	if strings.HasPrefix(serialOrURI, "pkcs11:") {
		token, terr := tokenOf(serialOrURI)
		if terr != nil {
			return contracts.Revocation{}, terr
		}
		r, err = c.one(ctx, token, req)
	} else {
		var rs []reply
		if rs, err = c.all(ctx, req); err == nil {
			r, err = firstSuccess(rs)
		}
	}
	if err != nil {
		return contracts.Revocation{}, err
	}
	if r.Revocation == nil {
		return contracts.Revocation{}, errors.New("a worker answered no revocation record")
	}
	return *r.Revocation, nil
}

// CRL is the CRL of the CA with key identifier ski, from the worker holding that CA.
func (c *Client) CRL(ctx context.Context, ski string) ([]byte, error) {
	rs, err := c.all(ctx, request{Op: opCRL, CA: ski})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", keyring.ErrCRLUnavailable, err)
	}
	r, err := firstSuccess(rs)
	if err != nil {
		return nil, err
	}
	return r.DER, nil
}

// OCSP is the answer of the worker holding the CA the request names: the first status answer, else
// the first answer (unauthorized from every worker when none holds that CA). No worker: tryLater.
func (c *Client) OCSP(ctx context.Context, der []byte) ([]byte, bool) {
	rs, err := c.all(ctx, request{Op: opOCSP, DER: der})
	if err != nil {
		return ocsp.TryLaterErrorResponse, false
	}
	for _, r := range rs {
		if r.Status {
			return r.DER, true
		}
	}
	for _, r := range rs {
		if len(r.DER) > 0 {
			return r.DER, false
		}
	}
	return ocsp.TryLaterErrorResponse, false
}
