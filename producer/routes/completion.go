package routes

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// Completion (issue 20, must 5): when the last party has acted, the route is not completed at once.
// The engine makes the certificate of completion (completion_cert.go) and queues two jobs under the
// company's seal credential (external.seal_credential): the seal of the last revision — an
// incremental update, so every party's signature stays valid — and the seal of the certificate.
// The worker timestamps both as it does every signature (signing.tsa_url: PAdES B-T). When both
// are delivered the sealed revision is the route's final document and the route is completed.
// Without a Sealer (no seal credential) the route completes on the last party's revision, as before.

// Sealer queues a job signed by the intake (producer/external's publish, contracts.JobSigner) with
// the company's seal credential; it must be idempotent for one job id (the id is the Nats-Msg-Id).
type Sealer interface {
	Credential() string
	Queue(ctx context.Context, job *contracts.SignJob) error
}

// Completion is the route's final revision in the making.
type Completion struct {
	Since time.Time `json:"since"`
	// CertificateKey is the unsigned certificate of completion; CertificateSHA256 its hash, named in
	// the seal's reason.
	CertificateKey    string `json:"certificate_key"`
	CertificateSHA256 string `json:"certificate_sha256"`
	// Queued: both seal jobs were queued (the sweeper queues them again while not).
	Queued bool `json:"queued,omitempty"`
	// SealedKey and CertificateSealedKey are the sealed outputs, once delivered.
	SealedKey            string `json:"sealed_key,omitempty"`
	CertificateSealedKey string `json:"certificate_sealed_key,omitempty"`
	Reason               string `json:"reason,omitempty"`
	// Delivered: the final link was sent (completion_link.go); LinkHash is its token's SHA-256 and
	// LinkExpires its end. FilesDeleted is when the sweeper deleted the route's files.
	Delivered    bool      `json:"delivered,omitempty"`
	LinkHash     string    `json:"link_hash,omitempty"`
	LinkExpires  time.Time `json:"link_expires,omitempty"`
	FilesDeleted time.Time `json:"files_deleted,omitempty"`
}

// Seal jobs of a route: RouteOfJob finds the route, PartyByJob no party.
func sealJobID(routeID string) string { return routeID + "-seal" }
func certJobID(routeID string) string { return routeID + "-certificate" }

// CertificateKey is where a route's certificate of completion is stored.
func CertificateKey(routeID string) string {
	return contracts.IncomingPrefix + "routes/" + routeID + "/certificate.pdf"
}

// VerifyURL is the verification page of the route's final document (the seal job's id).
func (e *Engine) VerifyURL(routeID string) string {
	return strings.TrimRight(e.PublicURL, "/") + "/verify/" + sealJobID(routeID)
}

// startCompletion is called by afterAct when the last step's rule is met: it reports whether the
// route waits for its seal (r.Completion set) instead of completing now.
func (e *Engine) startCompletion(r *Route) bool {
	if e.Seal == nil || e.Seal.Credential() == "" {
		return false
	}
	if r.Completion == nil {
		r.Completion = &Completion{Since: e.now()}
	}
	return true
}

// seal makes and stores the certificate and queues both seal jobs, once (Queued by compare-and-set
// after the jobs were queued: a repeat queues the same ids, which JetStream deduplicates).
func (e *Engine) seal(ctx context.Context, routeID string) error {
	r, _, err := e.Store.Get(ctx, routeID)
	if err != nil {
		return err
	}
	if r.State.Ended() || r.Completion == nil || r.Completion.Queued {
		return nil
	}
	cert, err := Certificate(r, e.VerifyURL(r.ID))
	if err != nil {
		return e.sealFailed(ctx, r.ID, "the certificate of completion: "+err.Error())
	}
	sum := sha256.Sum256(cert)
	certSHA := hex.EncodeToString(sum[:])
	key := CertificateKey(r.ID)
	if _, err := e.Docs.Put(ctx, key, bytes.NewReader(cert), int64(len(cert)), "application/pdf", certSHA); err != nil {
		return e.sealNotQueued(ctx, r.ID, err)
	}
	reason := clip("Signet: route "+r.ID+" completed; certificate of completion sha256 "+certSHA, 200)
	for _, j := range []struct{ id, key, name string }{
		{sealJobID(r.ID), r.RevisionKey, r.Document.FileName},
		{certJobID(r.ID), key, "certificate-" + r.ID + ".pdf"},
	} {
		job := &contracts.SignJob{
			ID: j.id, Kind: contracts.KindBatch, BatchID: r.ID, Created: e.now(),
			Document:   contracts.Document{URL: contracts.SharedStoragePrefix + j.key, FileName: j.name, Source: contracts.SourceURL},
			Signer:     contracts.Signer{Login: "seal:" + r.ID, Authorization: "company-seal"},
			Credential: e.Seal.Credential(),
			Stamp:      contracts.Stamp{Reason: reason},
			Language:   r.Language, TimeZone: r.TimeZone,
		}
		if err := e.Seal.Queue(ctx, job); err != nil {
			return e.sealNotQueued(ctx, r.ID, err)
		}
	}
	r, changed, err := e.Store.change(ctx, r.ID, func(r *Route) (bool, error) {
		if r.Completion == nil || r.Completion.Queued {
			return false, nil
		}
		r.Completion.Queued, r.Completion.CertificateKey, r.Completion.CertificateSHA256, r.Completion.Reason = true, key, certSHA, ""
		return true, nil
	})
	if err == nil && changed {
		e.audit(ctx, r, nil, "sealing", contracts.AuditOK, "", "revision "+strconv.Itoa(r.Revision)+" and the certificate of completion (sha256 "+certSHA+") sealed by "+e.Seal.Credential())
	}
	return err
}

// sealNotQueued records why the seal waits; the sweeper queues it again.
func (e *Engine) sealNotQueued(ctx context.Context, routeID string, cause error) error {
	why := clip("the company's seal is not queued yet, Signet tries again: "+cause.Error(), MaxReason)
	e.log().Warn("route: the seal is not queued; the sweeper tries again", zap.String("route", routeID), zap.Error(cause))
	_, _, err := e.Store.change(ctx, routeID, func(r *Route) (bool, error) {
		if r.Completion == nil || r.Completion.Reason == why {
			return false, nil
		}
		r.Completion.Reason = why
		return true, nil
	})
	return err
}

func (e *Engine) sealFailed(ctx context.Context, routeID, why string) error {
	_, err := e.end(ctx, routeID, Failed, "the company's seal failed: "+why+"; every party signed: start the route again or ask the administrator")
	return err
}

// sealDone applies the outcome of one of a route's seal jobs; handled is false for any other job.
func (e *Engine) sealDone(ctx context.Context, jobID string, d *contracts.Delivered) (handled bool, err error) {
	id := RouteOfJob(jobID)
	isSeal, isCert := jobID == sealJobID(id), jobID == certJobID(id)
	if !isSeal && !isCert {
		return false, nil
	}
	r, _, err := e.Store.Get(ctx, id)
	if err != nil {
		return true, err
	}
	if r.State.Ended() || r.Completion == nil {
		return true, nil
	}
	if d.Outcome != contracts.OutcomeSigned {
		return true, e.sealFailed(ctx, id, reasonOr(d.Error))
	}
	jobs, err := e.jobs(ctx)
	if err != nil {
		return true, err
	}
	ent, err := jobs.Get(ctx, contracts.ResultKey(jobID))
	if err != nil {
		return true, fmt.Errorf("route %s: the result of the seal %s: %w", id, jobID, err)
	}
	var s contracts.Signed
	if err := jsonUnmarshal(ent.Value(), &s); err != nil {
		return true, err
	}
	key := RevisionKey(id, r.Revision+1)
	if isCert {
		key = contracts.IncomingPrefix + "routes/" + id + "/certificate-sealed.pdf"
	}
	rc, obj, err := e.Docs.Get(ctx, s.PDFKey)
	if err != nil {
		return true, fmt.Errorf("route %s: reading the sealed document: %w", id, err)
	}
	_, err = e.Docs.Put(ctx, key, rc, obj.Size, "application/pdf", s.SHA256After)
	_ = rc.Close()
	if err != nil {
		return true, fmt.Errorf("route %s: storing the sealed document: %w", id, err)
	}
	var done bool
	r, changed, err := e.Store.change(ctx, id, func(r *Route) (bool, error) {
		c := r.Completion
		if r.State.Ended() || c == nil {
			return false, nil
		}
		switch {
		case isSeal && c.SealedKey == "":
			c.SealedKey = key
			r.Revision, r.RevisionKey, r.RevisionSHA256 = r.Revision+1, key, s.SHA256After
		case isCert && c.CertificateSealedKey == "":
			c.CertificateSealedKey = key
		default:
			return false, nil
		}
		if done = c.SealedKey != "" && c.CertificateSealedKey != ""; done {
			r.State, r.Since = Completed, e.now()
		}
		return true, nil
	})
	if err != nil || !changed {
		return true, err
	}
	what := "sealed"
	if isCert {
		what = "certificate sealed"
	}
	e.audit(ctx, r, nil, what, contracts.AuditOK, "", key+" sha256 "+s.SHA256After)
	if done {
		e.audit(ctx, r, nil, "completed", contracts.AuditOK, "", "revision "+strconv.Itoa(r.Revision)+": "+r.RevisionKey+"; certificate "+r.Completion.CertificateSealedKey)
		if err := e.deliver(ctx, id); err != nil {
			e.log().Warn("route: the final link is not delivered yet; the sweeper tries again", zap.String("route", id), zap.Error(err))
		}
		return true, e.tell(ctx, id)
	}
	return true, nil
}

// sweepCompletion does for a route being sealed what no event triggers: it queues the seal again
// while it is not queued, and applies the seal jobs' outcomes the watcher missed.
func (e *Engine) sweepCompletion(ctx context.Context, r *Route) error {
	if e.now().Sub(r.Completion.Since) >= holdStale {
		// A seal job ends within a job's authorisation (security.job_ttl, 24 h by default), signed
		// or refused; one that never came back (a dead letter) must not leave the route running.
		return e.sealFailed(ctx, r.ID, "the seal did not come back within "+holdStale.String()+" (see `signet dlq`)")
	}
	if !r.Completion.Queued {
		return e.seal(ctx, r.ID)
	}
	jobs, err := e.jobs(ctx)
	if err != nil {
		return nil
	}
	for _, id := range []string{sealJobID(r.ID), certJobID(r.ID)} {
		if ent, err := jobs.Get(ctx, contracts.DeliveredKey(id)); err == nil {
			var d contracts.Delivered
			if jsonUnmarshal(ent.Value(), &d) == nil {
				if _, err := e.sealDone(ctx, id, &d); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
