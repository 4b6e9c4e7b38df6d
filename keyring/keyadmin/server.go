package keyadmin

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/keyring"
)

// Recorder appends to the audit trail (internal/audit.Writer).
type Recorder interface {
	Record(ctx context.Context, e contracts.AuditEvent) error
}

// opTimeout bounds one operation on a token: making an RSA key on a smartcard takes seconds.
const opTimeout = 60 * time.Second

// Serve answers key administration for the tokens of keys until the returned stop is called: on
// SubjectKeysAll, and on the subject of every token it holds (queue group QueueKeys).
// responder, when not nil, answers the CRL and OCSP requests an intake forwards (the internal CA's
// keys are on this worker's tokens).
func Serve(nc *nats.Conn, keys *keyring.Keyring, responder *keyring.Responder, audit Recorder, log *zap.Logger) (stop func(), err error) {
	s := &server{keys: keys, responder: responder, audit: audit, log: log}
	var subs []*nats.Subscription
	stop = func() {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}
	sub, err := nc.Subscribe(contracts.SubjectKeysAll, s.handle)
	if err != nil {
		return stop, fmt.Errorf("key administration service: %w", err)
	}
	subs = append(subs, sub)
	for _, t := range keys.Status() {
		sub, err := nc.QueueSubscribe(tokenSubject(t.Name), contracts.QueueKeys, s.handle)
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("key administration service for token %s: %w", t.Name, err)
		}
		subs = append(subs, sub)
	}
	return stop, nil
}

type server struct {
	keys      *keyring.Keyring
	responder *keyring.Responder
	audit     Recorder
	log       *zap.Logger
}

func (s *server) handle(m *nats.Msg) {
	var req request
	var rep reply
	if err := json.Unmarshal(m.Data, &req); err != nil || req.V != 1 {
		rep = reply{Error: "unreadable key administration request; intake and worker must run the same Signet version"}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		rep = s.do(ctx, req)
		cancel()
	}
	b, _ := json.Marshal(rep)
	if err := m.Respond(b); err != nil {
		s.log.Warn("key administration: reply not sent", zap.String("op", req.Op), zap.Error(err))
	}
}

func (s *server) do(ctx context.Context, req request) reply {
	switch req.Op {
	case opStatus:
		return reply{Tokens: s.keys.Status()}
	case opList:
		creds, err := s.keys.List(ctx, req.Token)
		if err != nil && len(creds) == 0 {
			return errorReply(err)
		}
		return credentialsReply(creds...)
	case opCredential:
		c, err := s.keys.Credential(ctx, req.URI)
		if err != nil {
			return errorReply(err)
		}
		return credentialsReply(c)
	case opSelfSigned, opInitCA, opIssue:
		kt := keyring.KeyType(req.KeyType)
		var c *keyring.Credential
		var err error
		switch req.Op {
		case opSelfSigned:
			c, err = s.keys.GenerateSelfSigned(ctx, req.Token, req.Label, req.Subject, kt, req.Days)
		case opInitCA:
			c, err = s.keys.InitCA(ctx, req.Token, req.Label, req.Subject, kt, req.Days)
		default:
			c, err = s.keys.Issue(ctx, req.CA, req.Token, req.Label, req.Subject, kt, req.Days)
		}
		s.record(ctx, req, credURI(c), err)
		if err != nil {
			return errorReply(err)
		}
		return credentialsReply(c)
	case opImport:
		cert, err := x509.ParseCertificate(req.CertDER)
		if err != nil {
			return reply{Error: "the certificate to import is not DER X.509", Kind: "invalid"}
		}
		var chain []*x509.Certificate
		for _, d := range req.ChainDER {
			x, err := x509.ParseCertificate(d)
			if err != nil {
				return reply{Error: "a chain certificate to import is not DER X.509", Kind: "invalid"}
			}
			chain = append(chain, x)
		}
		err = s.keys.ImportCertificate(ctx, req.URI, cert, chain)
		s.record(ctx, req, req.URI, err)
		if err != nil {
			return errorReply(err)
		}
		return reply{}
	case opCRL, opOCSP:
		if s.responder == nil {
			return reply{Error: "this process answers no CRL or OCSP request", Kind: "unknown-ca"}
		}
		if req.Op == opOCSP {
			der, status := s.responder.OCSP(ctx, req.DER)
			return reply{DER: der, Status: status}
		}
		der, err := s.responder.CRL(ctx, req.CA)
		if err != nil {
			return errorReply(err)
		}
		return reply{DER: der}
	case opRevocation:
		rev, err := s.keys.Revocation(ctx, req.URI, req.Reason)
		if err != nil {
			return errorReply(err)
		}
		return reply{Revocation: &rev}
	}
	return reply{Error: fmt.Sprintf("unknown key administration operation %q; intake and worker must run the same Signet version", req.Op)}
}

func credentialsReply(creds ...*keyring.Credential) reply {
	r := reply{Credentials: make([]credential, 0, len(creds))}
	for _, c := range creds {
		r.Credentials = append(r.Credentials, toWire(c))
	}
	return r
}

func credURI(c *keyring.Credential) string {
	if c == nil {
		return ""
	}
	return c.URI
}

// record writes a change made for an intake to the audit trail, under the administrator's name the
// request carries (the intake's NATS user is the only one that may send it).
func (s *server) record(ctx context.Context, req request, uri string, err error) {
	outcome, reason := contracts.AuditOK, ""
	if err != nil {
		outcome, reason = contracts.AuditError, err.Error()
	}
	who := strings.TrimSpace(req.Actor)
	if who == "" {
		who = "an unnamed administrator"
	}
	s.log.Info("key administration for an intake", zap.String("op", req.Op), zap.String("admin", who), zap.String("credential", uri), zap.Error(err))
	if s.audit == nil {
		return
	}
	e := contracts.AuditEvent{Time: time.Now().UTC(), Action: contracts.AuditAdminChange, Credential: uri, Outcome: outcome, Reason: reason,
		Detail: "by " + who + " through an intake: " + req.Op + " " + strings.TrimSpace(req.Subject)}
	if aerr := s.audit.Record(ctx, e); aerr != nil {
		s.log.Error("audit trail unavailable: key administration not recorded there", zap.Error(aerr))
	}
}
