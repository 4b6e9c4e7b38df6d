package contracts

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A SignJob carries the intake's proof that it was authorised: an Ed25519 signature, by a key only the
// intake and `signet enqueue` hold, over every field of the job and an expiry. Workers hold only the
// public keys (JobKeys), so neither a worker nor anything else that can publish on NATS can mint a job.
//
// The bytes signed (JobAuthMessage) are a canonical encoding, independent of JSON:
//
//	"signet-job-auth/v1" 0x00, then for each field below, in this order, a 4-byte big-endian length
//	and the field's bytes (integers and times as decimal ASCII, booleans as "1"/"0", a list as its
//	count followed by its items):
//	kid, exp (Unix seconds), v, id, kind, batch_id, created (Unix nanoseconds),
//	portal.member_id, portal.domain,
//	document.url, document.disk_file_id, document.file_field, document.file_id, document.file_name,
//	document.document_id (list), document.entity_type_id, document.entity_id,
//	signer.login, signer.bitrix_user_id, signer.authorization, signer.grant_id,
//	credential,
//	stamp.visible, stamp.page, stamp.position, stamp.reason, stamp.location, stamp.evidence,
//	reply.event_token, reply.workflow_id, reply.notify_user_id
//
// and, under the tag "signet-job-auth/v2" instead, then language, time_zone (issue 18); under
// "…/v3" then document.source, under "…/v4" then stamp.image, under "…/v5" then reply.write_back (issue 19),
// each only when present. A job whose
// language and time zone are both empty is signed with the v1 bytes exactly, so a job queued by an
// intake from before them still verifies at an upgraded worker; the tag tells the two encodings
// apart, so a v2 job can never be read as a v1 one.
//
// A field added to SignJob must be added here, under a new tag ("…/v3"): a test fails until it is.
//
// The key id (kid) is the first 16 hex digits of the SHA-256 of the raw 32-byte public key, so a
// worker can hold several public keys while the signing key is rotated.

// JobAuthAlg is the only signature algorithm a worker accepts.
const JobAuthAlg = "Ed25519"

// jobAuthTag starts the signed bytes; it changes when the encoding does. jobAuthTagV1 is the encoding
// of a job without language and time zone (see above).
// jobAuthTagV3 adds the document's source (issue 19): a job without one keeps the v2 or v1 bytes,
// so jobs queued before an upgrade still verify.
// jobAuthTagV4 adds the signet's image (issue 19, must 6), likewise only for a job that has one.
// jobAuthTagV5 adds the write-back mode of a bulk job (issue 19, must 3): a job that writes only a link
// must not be turned into one that replaces the file, or back, by anything on NATS.
const (
	jobAuthTagV5 = "signet-job-auth/v5"
	jobAuthTagV4 = "signet-job-auth/v4"
	jobAuthTagV3 = "signet-job-auth/v3"
	jobAuthTag   = "signet-job-auth/v2"
	jobAuthTagV1 = "signet-job-auth/v1"
)

// JobAuth is the intake's signature over a job.
type JobAuth struct {
	Alg     string    `json:"alg"`
	KeyID   string    `json:"kid"`
	Expires time.Time `json:"exp"`
	Sig     []byte    `json:"sig"` // base64 in JSON
}

// Errors of Verify. ErrJobAuthExpired is the one a genuine job can meet (it waited too long in the
// queue); the others mean the job did not come from an intake that holds a trusted key.
var (
	ErrJobUnauthorised = errors.New("sign job not authorised by a trusted intake")
	ErrJobAuthExpired  = errors.New("sign job authorisation expired")
)

// JobKeyID names an Ed25519 public key.
func JobKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// JobAuthMessage returns the canonical bytes the job's signature covers, for the given key id and
// expiry (see the package-level description above).
func (j *SignJob) JobAuthMessage(kid string, exp time.Time) []byte {
	b := make([]byte, 0, 512)
	v5 := j.Reply.WriteBack != WriteBackReplace
	v4 := v5 || len(j.Stamp.Image) > 0
	v3 := v4 || j.Document.Source != ""
	v2 := v3 || j.Language != "" || j.TimeZone != ""
	switch {
	case v5:
		b = append(b, jobAuthTagV5...)
	case v4:
		b = append(b, jobAuthTagV4...)
	case v3:
		b = append(b, jobAuthTagV3...)
	case v2:
		b = append(b, jobAuthTag...)
	default:
		b = append(b, jobAuthTagV1...)
	}
	b = append(b, 0)
	str := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	num := func(n int64) { str(strconv.FormatInt(n, 10)) }
	flag := func(v bool) {
		if v {
			str("1")
		} else {
			str("0")
		}
	}
	str(kid)
	num(exp.Unix())
	num(int64(j.V))
	str(j.ID)
	str(string(j.Kind))
	str(j.BatchID)
	num(j.Created.UnixNano())
	str(j.Portal.MemberID)
	str(j.Portal.Domain)
	d := &j.Document
	str(d.URL)
	num(int64(d.DiskFileID))
	str(d.FileField)
	num(int64(d.FileID))
	str(d.FileName)
	num(int64(len(d.DocumentID)))
	for _, s := range d.DocumentID {
		str(s)
	}
	num(int64(d.EntityTypeID))
	num(int64(d.EntityID))
	str(j.Signer.Login)
	num(int64(j.Signer.BitrixUserID))
	str(j.Signer.Authorization)
	str(j.Signer.GrantID)
	str(j.Credential)
	s := &j.Stamp
	flag(s.Visible)
	str(s.Page)
	str(s.Position)
	str(s.Reason)
	str(s.Location)
	flag(s.Evidence)
	str(j.Reply.EventToken)
	str(j.Reply.WorkflowID)
	num(int64(j.Reply.NotifyUserID))
	if v2 {
		str(j.Language)
		str(j.TimeZone)
	}
	if v3 {
		str(j.Document.Source)
	}
	if v4 {
		str(string(j.Stamp.Image))
	}
	if v5 {
		str(string(j.Reply.WriteBack))
	}
	return b
}

// JobSigner signs jobs at the intake. It holds the private key: only intake processes and
// `signet enqueue` have one. Rotate switches it to a new key while it is in use (jobkeyrotation.go).
type JobSigner struct {
	cur atomic.Pointer[signingKey]
	// TTL is how long a job stays signable after it was queued (default DefaultJobTTL).
	TTL time.Duration
}

type signingKey struct {
	key ed25519.PrivateKey
	kid string
}

// DefaultJobTTL is how long a queued job may wait for a worker: the duplicate window of SIGN. A job
// still unsigned then (a long outage of every worker) is refused, and its workflow is told.
const DefaultJobTTL = 24 * time.Hour

// NewJobSigner makes a signer of the private key.
func NewJobSigner(key ed25519.PrivateKey, ttl time.Duration) *JobSigner {
	if ttl <= 0 {
		ttl = DefaultJobTTL
	}
	s := &JobSigner{TTL: ttl}
	s.Rotate(key)
	return s
}

// Rotate makes key the one every later Sign uses.
func (s *JobSigner) Rotate(key ed25519.PrivateKey) {
	s.cur.Store(&signingKey{key: key, kid: JobKeyID(key.Public().(ed25519.PublicKey))})
}

// KeyID is the id of the signing key.
func (s *JobSigner) KeyID() string { return s.cur.Load().kid }

// Public is the public key workers verify with.
func (s *JobSigner) Public() ed25519.PublicKey { return s.cur.Load().key.Public().(ed25519.PublicKey) }

// Sign sets j.V to Version and j.Auth to a signature expiring TTL after now. Any change to the job
// afterwards invalidates it.
func (s *JobSigner) Sign(j *SignJob, now time.Time) {
	k := s.cur.Load()
	j.V = Version
	exp := now.Add(s.TTL).UTC().Truncate(time.Second)
	j.Auth = &JobAuth{Alg: JobAuthAlg, KeyID: k.kid, Expires: exp, Sig: ed25519.Sign(k.key, j.JobAuthMessage(k.kid, exp))}
}

// JobKeys are the public keys a worker accepts job signatures from, by key id: those of its file,
// and those endorsed by one of them (a rotation, jobkeyrotation.go), found through Fetch.
type JobKeys struct {
	mu   sync.RWMutex
	keys map[string]ed25519.PublicKey
	// Fetch, when set, returns the endorsement of a key id not trusted yet ("signet admin keys
	// rotate" stores them in NATS); nil, nil when there is none.
	Fetch func(kid string) (*JobKeyEndorsement, error)
}

// NewJobKeys makes the set of trusted public keys.
func NewJobKeys(pubs ...ed25519.PublicKey) *JobKeys {
	k := &JobKeys{keys: map[string]ed25519.PublicKey{}}
	for _, p := range pubs {
		k.keys[JobKeyID(p)] = p
	}
	return k
}

// Len is the number of trusted keys.
func (k *JobKeys) Len() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.keys)
}

// IDs lists the key ids, for the log at start.
func (k *JobKeys) IDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ids := make([]string, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	return ids
}

// key is the trusted key kid, looking up an endorsement of it (and of its endorser, up to a few
// rotations back) when it is not trusted yet.
func (k *JobKeys) key(kid string, depth int) ed25519.PublicKey {
	if k == nil {
		return nil
	}
	k.mu.RLock()
	pub := k.keys[kid]
	k.mu.RUnlock()
	if pub != nil || k.Fetch == nil || depth > 8 {
		return pub
	}
	e, err := k.Fetch(kid)
	if err != nil || e == nil || JobKeyID(e.Public) != kid {
		return nil
	}
	by := k.key(e.By, depth+1)
	if by == nil || !e.Valid(by) {
		return nil
	}
	k.mu.Lock()
	k.keys[kid] = e.Public
	k.mu.Unlock()
	return e.Public
}

// Authentic checks that j was signed by a trusted key and not changed since, whatever its expiry.
// It never says more than "not authorised" and why in general terms: the job's fields are the
// attacker's and are not repeated.
func (k *JobKeys) Authentic(j *SignJob) error {
	a := j.Auth
	switch {
	case a == nil:
		return fmt.Errorf("%w: it carries no authorisation signature", ErrJobUnauthorised)
	case a.Alg != JobAuthAlg:
		return fmt.Errorf("%w: signature algorithm is not %s", ErrJobUnauthorised, JobAuthAlg)
	}
	pub := k.key(a.KeyID, 0)
	switch {
	case pub == nil:
		return fmt.Errorf("%w: signed by a key this worker does not trust (add the intake's public key to security.job_verify_keys_file, or rotate with `signet admin keys rotate`)", ErrJobUnauthorised)
	case len(a.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, j.JobAuthMessage(a.KeyID, a.Expires), a.Sig):
		return fmt.Errorf("%w: the signature does not match the job (altered or forged)", ErrJobUnauthorised)
	}
	return nil
}

// Verify is Authentic and not expired at now.
func (k *JobKeys) Verify(j *SignJob, now time.Time) error {
	if err := k.Authentic(j); err != nil {
		return err
	}
	return j.AuthExpired(now)
}

// AuthExpired says whether the job's authorisation has expired at now (nil when it has not). It
// checks the expiry alone: call it on a job found Authentic.
func (j *SignJob) AuthExpired(now time.Time) error {
	if j.Auth == nil {
		return fmt.Errorf("%w: it carries no authorisation signature", ErrJobUnauthorised)
	}
	if !now.Before(j.Auth.Expires) {
		return fmt.Errorf("job %s: %w at %s (it waited in the queue longer than security.job_ttl); submit the document again",
			j.ID, ErrJobAuthExpired, j.Auth.Expires.Format(time.RFC3339))
	}
	return nil
}
