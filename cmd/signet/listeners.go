package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/mail"
	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/keyring/keyadmin"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/storage"
	"github.com/signet-b24/signet/web"
)

// Every process serves two HTTP listeners at most, whatever its role (serve, intake, worker):
//
//   - public (listen): what Bitrix24, browsers and the admin API's callers reach — the intake's
//     handlers and pages when the process has an intake, and in every role /verify/{id}, /files/,
//     /healthz and a /readyz that names no token, credential or error;
//   - metrics (metrics.listen, default 127.0.0.1:9464, off when empty): /metrics and the detailed
//     /readyz, optionally behind metrics.token_file. Their labels and lines name tokens, credentials and
//     portals, which is why they left the public listener (issue 15, must 9).
//
// Each listener's routes are a routes.Table, so TestEveryRouteWalkedWithoutCredentials lists every
// pattern of every listener and README's "Endpoints: who may call what" must name each one.
const (
	listenerPublic  = "public"
	listenerMetrics = "metrics"
)

// served is one listener of a running process.
type served struct {
	Name   string
	Addr   string // the address it listens on (the port chosen, when the setting said :0)
	Routes *routes.Table
	http   *http.Server
}

// URL is the listener's base URL as a client on this machine reaches it.
func (s *served) URL() string { return "http://" + s.Addr }

// publicRoutes builds the public listener's routes: the intake's Bitrix24 doors and the web surface
// (web/, one file per surface) when in is not nil, and in every role what any process answers.
func (a *app) publicRoutes(in *producer.Intake) *routes.Table {
	mux := routes.New()
	if in != nil {
		in.Routes(mux)
		// Enrolment links, and the admin API behind the bearer token (web/enrol.go, web/api_*.go).
		(&web.Enrolment{ID: a.identity, Log: a.log.Named("identity")}).Routes(mux)
		(&web.UsersAPI{ID: a.identity, Log: a.log.Named("identity")}).Routes(mux, a.adminOnly)
		(&web.PortalsAPI{Portals: a.portals, Audit: a.audit, Log: a.log.Named("portals")}).Routes(mux, a.adminOnly)
		// The tokens are this process's, or the workers' through NATS (keyring/keyadmin): the same
		// API in every topology.
		if a.keyAdmin != nil {
			(&web.CredentialsAPI{Keys: a.keyAdmin}).Routes(mux, a.adminOnly)
			(&web.RevokeAPI{Keys: a.keyAdmin, Revoker: a.identity}).Routes(mux, a.adminOnly)
		}
		// The control panel (/admin) and the verification page (/verify); /verify/{id} is what the audit
		// trail recorded for one document (the QR code of a self-proving document points there).
		web.New(a.loginLimits(web.Config{Identity: a.identity, Keys: a.keyAdmin, Portals: a.portals, Bitrix: a.b24, JS: a.js,
			Replicas: a.cfg.NATS.Replicas, PublicURL: a.cfg.PublicURL, PasswordsFile: a.cfg.Security.AdminPasswordsFile, Admins: a.admins,
			Verify: a.verifyLimits(), TrustAnchors: a.trust,
			RobotCode: a.cfg.Bitrix24.RobotCode, MaxPDFBytes: a.cfg.Worker.MaxPDFBytes, Log: a.log.Named("pages"), Audit: a.audit,
			Mail: a.mailer(), InboxPass: in.InboxPass})).Routes(mux)
		a.mountOps(mux)      // the operator dashboard /ops (cmd/signet/ops.go)
		a.mountExternal(mux) // the external signer's page /x/ (cmd/signet/external.go)
	}
	// The internal CA's CRL and OCSP responder where its key is (issue 17 must 3); an intake without
	// tokens forwards to the workers that hold it (keyring/keyadmin), so the URLs in the certificates,
	// which name public_url, answer in every topology (issue 21 must 4).
	if a.responder != nil {
		(&web.Revocation{Responder: a.responder}).Routes(mux)
	} else if c, ok := a.keyAdmin.(*keyadmin.Client); ok {
		(&web.Revocation{Responder: c}).Routes(mux)
	}
	mux.Handle("GET /verify/{id}", web.TrailPage(a.js, contracts.StreamAudit, a.log.Named("verify")))
	mux.Handle(storage.LinkPath, rollingWrites(&web.Files{Store: a.store, Log: a.log.Named("storage")}, a.cfg.HTTP.WriteTimeout))
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", a.readyz(false))
	return mux
}

// metricsRoutes builds the metrics listener's routes, behind the bearer token of metrics.token_file
// when one is set.
func (a *app) metricsRoutes() (*routes.Table, error) {
	guard := func(h http.Handler) http.Handler { return h }
	if f := a.cfg.Metrics.TokenFile; f != "" {
		want, err := loadOrCreateToken(f)
		if err != nil {
			return nil, fmt.Errorf("metrics.token_file: %w", err)
		}
		guard = func(h http.Handler) http.Handler { return bearer(want, "metrics.token_file", h) }
	} else if !a.cfg.MetricsLoopback() {
		a.log.Warn("metrics.listen takes connections from other machines without a token: anyone who reaches it reads the token, credential and portal names; set metrics.token_file",
			zap.String("metrics_listen", a.cfg.Metrics.Listen))
	}
	mux := routes.New()
	mux.Handle("GET /metrics", guard(promhttp.Handler()))
	mux.Handle("GET /readyz", guard(a.readyz(true)))
	return mux, nil
}

// bearer lets through the requests whose Authorization header carries want.
func bearer(want, setting string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="signet-metrics"`)
			http.Error(w, "bearer token required (Authorization: Bearer <contents of "+setting+">)", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loadOrCreateToken reads a bearer token from path, making one (64 hex characters) on first run.
// The token is the file's text without surrounding white space, as Prometheus sends it
// (authorization.credentials_file).
func loadOrCreateToken(path string) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if _, err := loadOrCreateSecret(path); err != nil {
			return "", err
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		return "", errorf("cli.serve.shortToken", "%[1]s holds %[2]v characters; a token needs at least 32 (make one: openssl rand -hex 32 > %[1]s)", path, len(tok))
	}
	return tok, nil
}

// serveListeners opens and serves the public listener and, when metrics.listen is set, the metrics
// one. A listener that cannot be opened stops the start: an operator who set an address expects it.
// Both are opened before any route is built, so the dashboard can name the metrics listener's real
// address (the port chosen for :0).
func (a *app) serveListeners(in *producer.Intake, r role) error {
	addrs := []struct{ name, setting, addr string }{{listenerPublic, "listen", a.cfg.Listen}}
	if a.cfg.Metrics.Listen != "" {
		addrs = append(addrs, struct{ name, setting, addr string }{listenerMetrics, "metrics.listen", a.cfg.Metrics.Listen})
	}
	var ls []net.Listener
	for _, w := range addrs {
		l, err := net.Listen("tcp", w.addr)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return wrapf(err, "cli.serve.listen", "%[1]s %[2]s: %[3]v (choose a free address; metrics.listen: off turns the metrics listener off)", w.setting, w.addr, err)
		}
		ls = append(ls, l)
		a.served = append(a.served, &served{Name: w.name, Addr: l.Addr().String()})
	}
	for _, s := range a.served {
		var err error
		if s.Name == listenerMetrics {
			s.Routes, err = a.metricsRoutes()
		} else {
			s.Routes = a.publicRoutes(in)
		}
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return err
		}
	}
	for i, s := range a.served {
		s.http = a.httpServer(s.Routes)
		go func(s *served, l net.Listener) {
			if err := s.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("HTTP server stopped", zap.String("listener", s.Name), zap.Error(err))
			}
		}(s, ls[i])
		a.log.Info("HTTP listening", zap.String("listener", s.Name), zap.String("addr", s.Addr))
	}
	return nil
}

// shutdownListeners stops every listener: no new requests, those in hand finish within ctx.
func (a *app) shutdownListeners(ctx context.Context) error {
	var err error
	for _, s := range a.served {
		if s.http != nil {
			err = errors.Join(err, s.http.Shutdown(ctx))
		}
	}
	return err
}

// listener returns the served listener called name, nil when the process does not serve it.
func (a *app) listener(name string) *served {
	for _, s := range a.served {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// mailer is the SMTP sender of the mail.* settings, or nil (web.Config.Mail) when mail.smtp_host is
// empty or the settings cannot work; the latter is logged once at start, saying what to fix.
func (a *app) mailer() web.Mailer {
	if a.cfg.Mail.SMTPHost == "" {
		return nil
	}
	s, err := mail.New(mail.Config{SMTPHost: a.cfg.Mail.SMTPHost, From: a.cfg.Mail.From, TLS: a.cfg.Mail.TLS, CredentialsFile: a.cfg.Mail.CredentialsFile})
	if err != nil {
		a.log.Error("e-mail is off", zap.Error(err))
		return nil
	}
	return s
}
