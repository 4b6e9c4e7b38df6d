package main

import (
	"context"
	"crypto/x509"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/worker/archive"
)

// startArchive runs the archive job in a worker process every archive.schedule (issue 17 must 6);
// every worker process runs the loop, and the lease in the jobs bucket lets one at a time work.
func (a *app) startArchive(ctx context.Context) {
	if a.cfg.Archive.Schedule <= 0 {
		return
	}
	log := a.log.Named("archive")
	extend := a.archiveExtender()
	if extend == nil {
		log.Warn("archive.schedule is set without signing.tsa_url: documents cannot be extended to PAdES B-LTA; `signet archive status` still shows what expires when")
		return
	}
	var roots *x509.CertPool
	if len(a.trust) > 0 {
		roots = x509.NewCertPool()
		for _, c := range a.trust {
			roots.AddCert(c)
		}
	}
	s := &archive.Scheduler{Leases: a.results, Every: a.cfg.Archive.Schedule, Log: log,
		Job: &archive.Job{Store: a.store, Extend: extend, Inspect: archive.PadesInspector(roots),
			RenewBefore: a.cfg.Archive.RenewBefore, Audit: a.audit, Log: log}}
	log.Info("archive renewal scheduled", zap.Duration("every", s.Every), zap.Duration("renew_before", a.cfg.Archive.RenewBefore))
	go s.Loop(ctx)
}

// archiveExtender re-extends a stored document to PAdES B-LTA with the authority of
// signing.tsa_url (config.Validate requires it with archive.schedule): the validation data of what
// the document holds, the previous timestamp's included, then a new document timestamp (pades.Extend,
// issue 17 musts 4 and 5). No trust anchors: a chain that does not reach the system roots (Signet's
// own CA) is extended as the document carries it; whom to trust is the verifier's decision.
func (a *app) archiveExtender() archive.Extender {
	tsa := a.timestamper()
	if tsa == nil {
		return nil
	}
	return func(ctx context.Context, in []byte) ([]byte, error) {
		out, _, err := pades.Extend(ctx, in, pades.ExtendOptions{Level: pades.LevelLTA, Timestamper: tsa})
		return out, err
	}
}
