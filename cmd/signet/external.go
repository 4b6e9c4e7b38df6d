package main

import (
	"context"
	"strings"

	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/internal/sms"
	"github.com/signet-b24/signet/producer/external"
	"github.com/signet-b24/signet/web"
)

// startExternal builds the external signers' service on an intake (issue 20, must 2;
// producer/external): invitations by e-mail (mail.*) or SMS (external.sms_*), sealed by
// external.seal_credential. startRoutes (route_engine.go) then wires it to the route engine (Done,
// Hold, Release) and starts its sweeper.
func (a *app) startExternal(ctx context.Context) error {
	c := a.cfg.External
	provider, err := sms.New(sms.Config{Provider: c.SMSProvider, URL: c.SMSURL, CredentialsFile: c.SMSCredentialsFile, From: c.SMSFrom})
	if err != nil {
		return err
	}
	s := &external.Service{JS: a.js, Replicas: a.cfg.NATS.Replicas, Store: a.store, SMS: provider, JobKey: a.jobKey,
		SealCredential: c.SealCredential, PublicURL: a.cfg.PublicURL, Key: a.formKey, LinkTTL: c.LinkTTL,
		MaxFailures: c.CodeAttempts, Audit: a.audit, Log: a.log.Named("external")}
	if m := a.mailer(); m != nil {
		s.Mail = m
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	a.external = s
	return nil
}

// mountExternal mounts the external signer's page (web/external.go) on the public listener.
func (a *app) mountExternal(mux routes.Mux) {
	if a.external == nil {
		return
	}
	proxies, _ := a.cfg.TrustedProxies() // checked by config.Validate
	(&web.External{Service: a.external, Secure: strings.HasPrefix(a.cfg.PublicURL, "https://"), TrustedProxies: proxies,
		Log: a.log.Named("external")}).Routes(mux)
}
