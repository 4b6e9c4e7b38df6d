package main

import (
	"context"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/producer/routes"
)

// startRoutes builds the signing routes' engine of an intake (issue 20): it runs on the requests
// (a route party's request is a request to sign) and puts its gate in front of their queue, so a
// party's job signs the route's latest revision and never at the same time as another's.
func (a *app) startRoutes(ctx context.Context, in *producer.Intake) error {
	store, err := routes.OpenStore(ctx, a.js, a.cfg.NATS.Replicas)
	if err != nil {
		return err
	}
	a.routes = &routes.Engine{Store: store, JS: a.js, Docs: a.store, Requests: a.requests, Users: a.identity,
		Audit: a.audit, LinkTTL: a.cfg.Storage.LinkTTL, Log: a.log.Named("routes")}
	a.routes.PublicURL, a.routes.FinalLinkTTL, a.routes.DeleteAfter = a.cfg.PublicURL, a.cfg.Routes.FinalLinkTTL, a.cfg.Routes.DeleteAfter
	if m := a.mailer(); m != nil {
		a.routes.Mail = m
	}
	if a.b24 != nil {
		a.routes.Bitrix = a.b24
	}
	// The final revision and the certificate of completion are sealed by the company's seal
	// (external.seal_credential; producer/routes/completion.go); without it a route completes on
	// the last party's revision.
	if a.cfg.External.SealCredential != "" {
		a.routes.Seal = &routes.QueueSealer{JS: a.js, JobKey: a.jobKey, SealCredential: a.cfg.External.SealCredential}
	}
	in.RouteEngine = a.routes
	a.requests.Queue = routes.Gate{Inner: in.RequestQueue(), Engine: a.routes}
	return nil
}
