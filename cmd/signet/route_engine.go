package main

import (
	"context"
	"errors"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/producer/external"
	"github.com/signet-b24/signet/producer/routes"
)

// startRoutes builds the signing routes' engine of an intake (issue 20): it runs on the requests
// (a route party's request is a request to sign) and puts its gate in front of their queue, so a
// party's job signs the route's latest revision and never at the same time as another's. With
// external signing configured (startExternal, external.seal_credential) it wires the external
// signers' service in both directions (routeExternals) and only then starts that service's sweeper,
// so the sweeper never runs with the hooks half set.
func (a *app) startRoutes(ctx context.Context, in *producer.Intake) error {
	store, err := routes.OpenStore(ctx, a.js, a.cfg.NATS.Replicas)
	if err != nil {
		return err
	}
	a.routes = &routes.Engine{Store: store, JS: a.js, Docs: a.store, Requests: a.requests, Users: a.identity,
		Audit: a.audit, LinkTTL: a.cfg.Storage.LinkTTL, Log: a.log.Named("routes"),
		Mirroring: routes.MirrorConfig{DateField: a.cfg.Bitrix24.RouteDateField, StatusField: a.cfg.Bitrix24.RouteStatusField, Folder: a.cfg.Bitrix24.RouteFolder}}
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
	if x := a.external; x != nil {
		if x.SealCredential != "" {
			// Without a seal nothing can be sealed: routes.Engine then refuses a route with an
			// external party at its start (ErrNoExternals) instead of inviting someone who cannot sign.
			w := routeExternals{x: x, e: a.routes}
			a.routes.Externals = w
			x.Done, x.Hold, x.Release = w, w.Hold, a.routes.Release
		}
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		a.closers = append(a.closers, cancel)
		go x.Run(sctx, a.cfg.Requests.SweepInterval)
	}
	in.RouteEngine = a.routes
	a.requests.Queue = routes.Gate{Inner: in.RequestQueue(), Engine: a.routes}
	return nil
}

// routeExternals connects the route engine (producer/routes) and the external signers' service
// (producer/external), which do not import each other (docs/architecture.md), issue 20 must 2 and 3:
//   - the engine invites an external party through the service, the party's job id as the seal
//     job's id (the service's Invite is idempotent per that id, as the engine's sweeper needs);
//   - the service asks the engine to hold the route's latest revision before it builds the seal job
//     (Hold), so parallel parties never sign at once and each signs on the other's revision;
//   - the seal job's outcome (out.<job id> in the jobs bucket) is heard by the engine's watcher like
//     an internal party's: a signature is filed once, by the engine. The service's Done tells the
//     rest: a decline with its reason, a locked link (failed), an unanswered link (expired).
type routeExternals struct {
	x *external.Service
	e *routes.Engine
}

// Invite implements routes.Externals.
func (w routeExternals) Invite(ctx context.Context, p routes.ExternalInvite) error {
	if p.Action == routes.ActionApprove {
		return errors.New("an external party signs with the company's seal and cannot only approve: make their step a signing one, or give an internal approver")
	}
	r, err := w.e.Get(ctx, "", p.RouteID)
	if err != nil {
		return err
	}
	_, err = w.x.Invite(ctx, external.Invitation{RouteID: p.RouteID, StepID: p.StepID, PartyID: p.PartyID, JobID: p.JobID,
		Name: p.Name, Email: p.Email, Phone: p.Phone, DocumentKey: p.DocumentKey, FileName: r.Document.FileName,
		Language: p.Language, TimeZone: r.TimeZone, Expires: p.Deadline})
	return err
}

// Withdraw implements routes.ExternalWithdrawer: a party no longer asked finds their link ended.
func (w routeExternals) Withdraw(ctx context.Context, jobID, reason string) error {
	return w.x.WithdrawJob(ctx, jobID, reason)
}

// PartyDone implements external.Done.
func (w routeExternals) PartyDone(ctx context.Context, routeID, stepID, partyID string, outcome contracts.Outcome, reason string) error {
	var o routes.Outcome
	switch outcome {
	case contracts.OutcomeSigned:
		return nil // filed by the engine from the seal job's outcome; telling it here would count it twice
	case contracts.OutcomeDeclined:
		o = routes.OutcomeDeclined
	case contracts.OutcomeExpired:
		o = routes.OutcomeExpired
	default:
		o = routes.OutcomeFailed // a locked link, or a failed seal job the engine may have heard already
	}
	err := w.e.PartyDone(ctx, routeID, stepID, partyID, o, reason)
	if errors.Is(err, routes.ErrEnded) || errors.Is(err, routes.ErrNotYourTurn) || errors.Is(err, routes.ErrNotFound) {
		return nil // the route heard it already (from the job's outcome), or ended meanwhile
	}
	return err
}

// Hold is the service's Hold: the route's errors in the words the external page knows.
func (w routeExternals) Hold(ctx context.Context, routeID, jobID string) (string, error) {
	key, err := w.e.Hold(ctx, routeID, jobID)
	switch {
	case errors.Is(err, routes.ErrBusy):
		return "", external.ErrBusy
	case errors.Is(err, routes.ErrEnded), errors.Is(err, routes.ErrNotYourTurn), errors.Is(err, routes.ErrNotFound):
		return "", external.ErrEnded
	}
	return key, err
}
