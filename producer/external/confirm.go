package external

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/storage"
)

// What the seal's signature says about the party (issue 20, must 2), and why there:
//
// The company's seal signs: the party holds no certificate. Two entries of the signature dictionary
// carry who they are and how they were identified, in the invitation's language:
//   - /Reason (external.reason): their name, the channel, the address the code went to and when it
//     was verified. The visible stamp draws it beside their picture, name first;
//   - /Location (external.location, ISO 32000-1 Table 252: "the CPU host name or physical location of
//     the signing"): the IP address and browser of the confirmation, and its time.
//
// The signature dictionary is inside the signed byte ranges, so this evidence is covered by the seal's
// signature like the document itself: changing a word breaks the signature, and every PDF reader shows
// both entries in its signature panel without Signet. /Name stays the seal's own (the certificate's
// subject), because a reader compares /Name with the certificate, and the party is not its holder.
// The audit trail has the same evidence event by event (audit.go). The job needs no field of its own:
// stamp.reason and stamp.location have been covered by the job's authorisation since job-auth v1.

// Picture fields of the page: data: URLs of a PNG or JPEG, as the Sign dialog sends them.
var ErrPicture = errors.New("picture refused")

// pictureFromDataURL reads a data: URL of a PNG or JPEG and returns its sanitised PNG; "" is none.
func pictureFromDataURL(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	b64, ok := strings.CutPrefix(s, "data:image/png;base64,")
	if !ok {
		b64, ok = strings.CutPrefix(s, "data:image/jpeg;base64,")
	}
	if !ok || len(b64) > pades.MaxImageInput*4/3+4 {
		return nil, fmt.Errorf("%w: not a PNG or JPEG of at most %d MiB", ErrPicture, pades.MaxImageInput>>20)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrPicture)
	}
	clean, err := pades.SanitiseImage(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPicture, err)
	}
	return clean, nil
}

// MaxPictureForm bounds the page's confirmation form: two pictures as data: URLs and a few fields.
const MaxPictureForm = 2*(pades.MaxImageInput*4/3+64) + 16<<10

// Reason is the signature's /Reason for the party, Location its /Location (see above); "" before the
// code is verified and the party confirmed.
func (s *Service) Reason(inv *Invitation) (reason, location string) {
	l := s.localizer(inv)
	v, c := inv.Verified, inv.Confirmed
	if v == nil || c == nil {
		return "", ""
	}
	stamp := func(t time.Time) string { return inLocal(inv, t).Format("2006-01-02 15:04:05 -07:00") }
	return l.T("external.reason", inv.Name, l.T("external.channel."+string(inv.Channel)), inv.Address(), stamp(v.At)),
		l.T("external.location", orDash(c.IP), clean(c.UserAgent, 200), stamp(c.At))
}

// JobID is the seal's job of an invitation: the one its caller gave (the route engine's party job,
// so the route hears the outcome as an internal party's, producer/routes.Externals), else one per
// invitation. Either way a repeated confirmation is a duplicate JetStream drops.
func JobID(inv *Invitation) string {
	if inv.JobID != "" {
		return inv.JobID
	}
	return "ext-" + inv.ID
}

// routed says whether the invitation's seal job id was given by its caller (a route's party).
func (inv *Invitation) routed() bool { return inv.JobID != "" && inv.JobID != "ext-"+inv.ID }

// Confirm queues the seal's signature of the invitation of a session, with the party's signature
// picture (required: typed, drawn or uploaded) and optional stamp (data: URLs). A routed invitation
// first asks Hold for the route's latest revision (issue 20, must 3: each signature an incremental
// update on the latest revision, never two at once); ErrBusy while another party's is being made,
// and nothing of the invitation is spent.
func (s *Service) Confirm(ctx context.Context, session, signature, stamp string, ev Evidence) (*Invitation, error) {
	id, secret, ok := ParseToken(session)
	if !ok {
		return nil, ErrSession
	}
	if s.JobKey == nil {
		return nil, errors.New("the intake has no job signing key (security.job_signing_key_file): nothing can be sealed")
	}
	sig, err := pictureFromDataURL(signature)
	if err != nil {
		return nil, err
	}
	if len(sig) == 0 {
		return nil, fmt.Errorf("%w: type, draw or upload your signature first", ErrPicture)
	}
	st, err := pictureFromDataURL(stamp)
	if err != nil {
		return nil, err
	}
	img, err := pades.SideBySide(sig, st)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPicture, err)
	}
	if len(img) > contracts.MaxStampImage {
		return nil, fmt.Errorf("%w: the pictures together are %d KiB after re-encoding, over %d KiB; use smaller or simpler ones",
			ErrPicture, len(img)>>10, contracts.MaxStampImage>>10)
	}
	now := s.now()
	ev.At = now
	check := func(inv *Invitation) error {
		switch {
		case !sameHash(inv.SessionHash, secret):
			return ErrSession
		case inv.State != Verified:
			return ErrEnded
		case !now.Before(inv.Expires):
			return ErrExpired
		}
		return nil
	}
	cur, _, err := s.st.get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrSession
	}
	if err != nil {
		return nil, err
	}
	if err := check(cur); err != nil {
		return cur, err
	}
	held, err := s.hold(ctx, cur)
	if err != nil {
		return cur, err
	}
	inv, err := s.st.update(ctx, id, func(inv *Invitation) (bool, error) {
		if err := check(inv); err != nil {
			return false, err
		}
		inv.State, inv.Since, inv.Confirmed, inv.JobID = Queued, now, &ev, JobID(inv)
		if held != "" {
			inv.DocumentKey = held
		}
		return false, nil
	})
	if err != nil {
		// A second confirmation that lost to the first (both held for the same job) must not give
		// the first's hold away.
		if inv != nil && inv.State != Queued {
			s.release(ctx, cur, held)
		}
		return inv, err
	}
	job := s.job(inv, img)
	if err := s.publish(ctx, job); err != nil {
		// Back to Verified: the party may confirm again.
		_, _ = s.st.update(ctx, id, func(i *Invitation) (bool, error) {
			if i.State == Queued {
				i.State = Verified
				if !i.routed() {
					i.JobID = ""
				}
			}
			return false, nil
		})
		s.release(ctx, inv, held)
		s.record(ctx, inv, ActionConfirmed, contracts.AuditError, err.Error())
		return nil, err
	}
	s.record(ctx, inv, ActionConfirmed, contracts.AuditOK, "sealed by "+s.SealCredential+"; "+evidenceDetail(ev))
	return inv, nil
}

// hold asks Hold for the revision a routed invitation seals; "" when the invitation's own is sealed.
func (s *Service) hold(ctx context.Context, inv *Invitation) (string, error) {
	if s.Hold == nil || !inv.routed() {
		return "", nil
	}
	key, err := s.Hold(ctx, inv.RouteID, inv.JobID)
	if err != nil {
		if !errors.Is(err, ErrBusy) {
			s.record(ctx, inv, ActionConfirmed, contracts.AuditRefused, err.Error())
		}
		return "", err
	}
	if !strings.HasPrefix(key, contracts.IncomingPrefix) || storage.ValidateKey(key) != nil {
		s.release(ctx, inv, key)
		return "", fmt.Errorf("the route gave %q to seal, not an object under %s in Signet's storage", key, contracts.IncomingPrefix)
	}
	return key, nil
}

// release gives a hold back when its job was not queued (the party may confirm again).
func (s *Service) release(ctx context.Context, inv *Invitation, held string) {
	if held == "" || s.Release == nil {
		return
	}
	if err := s.Release(ctx, inv.RouteID, inv.JobID); err != nil {
		s.log().Warn("an external party's hold on the route's document was not given back; it lapses by itself",
			zap.String("invitation", inv.ID), zap.Error(err))
	}
}

// job is the seal's SignJob: a job on Signet's own storage (the kind whose document is read from
// there, worker/fetch_batch.go), no portal to call back (the route engine mirrors the outcome), the
// seal's credential, the party's picture in a visible stamp and the evidence as its reason.
func (s *Service) job(inv *Invitation, img []byte) *contracts.SignJob {
	reason, location := s.Reason(inv)
	return &contracts.SignJob{
		ID: inv.JobID, Kind: contracts.KindBatch, Created: s.now(),
		Document:   contracts.Document{URL: contracts.SharedStoragePrefix + inv.DocumentKey, FileName: inv.FileName},
		Signer:     contracts.Signer{Login: Login(inv), Authorization: "external-code"},
		Credential: s.SealCredential,
		Stamp:      contracts.Stamp{Visible: true, Page: "last", Position: "bottom-left", Reason: reason, Location: location, Image: img},
		Language:   inv.Language, TimeZone: inv.TimeZone,
	}
}

// publish signs the job like every intake job (contracts.JobSigner) and queues it, its id as the
// Nats-Msg-Id.
func (s *Service) publish(ctx context.Context, job *contracts.SignJob) error {
	s.JobKey.Sign(job, s.now())
	if err := job.Validate(); err != nil {
		return err
	}
	data, err := job.Marshal()
	if err != nil {
		return err
	}
	ack, err := s.JS.PublishMsg(ctx, &nats.Msg{Subject: job.Kind.Subject(), Data: data,
		Header: nats.Header{contracts.HeaderMsgID: []string{job.ID}}}, jetstream.WithExpectStream(contracts.StreamSign))
	if err != nil {
		return fmt.Errorf("queueing the seal's job %s: %w; confirm again in a minute", job.ID, err)
	}
	if !ack.Duplicate && s.Audit != nil {
		e := audit.JobEvent(contracts.AuditRequestAccepted, job)
		e.Time, e.Outcome, e.Detail = s.now(), contracts.AuditOK, "authorization external-code (the company's seal for an external party)"
		_ = s.Audit.Record(ctx, e)
	}
	return nil
}
