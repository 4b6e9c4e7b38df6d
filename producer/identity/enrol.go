package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/png"
	"net/url"
	"time"

	"github.com/pquerna/otp"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// enrolRecord is a pending enrolment in BucketEnrol under "t.<sha256(token)>": the token itself is
// never stored, and the pending secret is kept apart from the active one in BucketOTP until the
// user confirms it, so a re-enrolment that is never finished leaves the old secret working.
type enrolRecord struct {
	Login   string    `json:"login"`
	Secret  sealed    `json:"secret"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Used    time.Time `json:"used"`
}

// PendingEnrolment is what the enrolment page shows: the secret as text and as an otpauth URL
// (the QR code's content). It is only returned for a valid, unused, current link.
type PendingEnrolment struct {
	Login   string
	Secret  string // RFC 4648 base32 without padding, as authenticator apps expect
	URL     string // otpauth://totp/…
	Issuer  string // the name the authenticator app shows (Config.Issuer)
	Expires time.Time
}

// base32NoPad is RFC 4648 base32 without padding, the secret format of otpauth URLs.
var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// enrolID is a short, non-secret name of a link for logs (a prefix of the token's hash).
func enrolID(hash string) string { return hash[:12] }

func enrolKey(hash string) string       { return "t." + hash }
func latestLinkKey(login string) string { return "l." + loginKey(login) }

// otpauthURL follows the Key Uri Format of Google Authenticator, with the parameters in the
// order Signet documents; the values are those RFC 6238 authenticators default to.
func otpauthURL(issuer, login, secret string) string {
	return "otpauth://totp/" + url.PathEscape(issuer) + ":" + url.PathEscape(login) +
		"?secret=" + secret + "&issuer=" + url.QueryEscape(issuer) + "&period=30&digits=6&algorithm=SHA1"
}

// StartEnrolment creates a one-hour, single-use enrolment link for login with a fresh secret
// (160 bits, the RFC 4226 §4 recommended length). A newer link replaces older unused ones.
func (s *Service) StartEnrolment(ctx context.Context, login string) (string, time.Time, error) {
	u, _, err := s.getUser(ctx, login)
	if err != nil {
		return "", time.Time{}, err
	}
	token, expires, err := s.startEnrolment(ctx, u)
	if err != nil {
		return "", time.Time{}, err
	}
	return s.EnrolmentURL(token), expires, nil
}

// EnrolmentURL is the link of an enrolment token on the public address (Config.PublicURL).
func (s *Service) EnrolmentURL(token string) string { return s.cfg.PublicURL + "/enrol/" + token }

// startEnrolment stores a fresh pending secret for u and returns the link's token.
func (s *Service) startEnrolment(ctx context.Context, u *User) (string, time.Time, error) {
	if u.Disabled {
		return "", time.Time{}, fmt.Errorf("enrolment for %q refused: %w; enable the account first", u.Login, ErrUserDisabled)
	}
	raw := make([]byte, 20)
	tok := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, fmt.Errorf("enrolment for %q: generating secret: %w", u.Login, err)
	}
	if _, err := rand.Read(tok); err != nil {
		return "", time.Time{}, fmt.Errorf("enrolment for %q: generating link: %w", u.Login, err)
	}
	secret := base32NoPad.EncodeToString(raw)
	box, err := s.cfg.Keys.seal([]byte(secret), otpAAD(u.Login))
	if err != nil {
		return "", time.Time{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(tok)
	hash := tokenHash(token)
	now := s.now().UTC()
	rec := enrolRecord{Login: u.Login, Secret: box, Created: now, Expires: now.Add(s.cfg.EnrolTTL)}
	b, err := json.Marshal(rec)
	if err != nil {
		return "", time.Time{}, err
	}
	if _, err := s.enrol.Create(ctx, enrolKey(hash), b); err != nil {
		return "", time.Time{}, fmt.Errorf("enrolment for %q: storing link: %w", u.Login, err)
	}
	if _, err := s.enrol.Put(ctx, latestLinkKey(u.Login), []byte(hash)); err != nil {
		return "", time.Time{}, fmt.Errorf("enrolment for %q: storing link: %w", u.Login, err)
	}
	s.log.Info("OTP enrolment link created", zapLogin(u.Login), zap.String("enrolment", enrolID(hash)), zap.Time("expires", rec.Expires))
	s.audit(ctx, contracts.AuditEvent{Action: contracts.AuditEnrolment, Login: rec.Login, Outcome: contracts.AuditOK,
		Detail: "enrolment link created, valid until " + rec.Expires.Format(time.RFC3339)})
	return token, rec.Expires, nil
}

// loadEnrolment returns the record of a link that may still be used, with its revision.
func (s *Service) loadEnrolment(ctx context.Context, token string) (*enrolRecord, uint64, string, error) {
	if token == "" || len(token) > 128 {
		return nil, 0, "", fmt.Errorf("this enrolment link is not valid: %w; ask the administrator for a new link", ErrEnrolmentNotFound)
	}
	hash := tokenHash(token)
	b, rev, err := getRev(ctx, s.enrol, enrolKey(hash))
	if err != nil {
		return nil, 0, "", fmt.Errorf("reading enrolment link: %w; try again", err)
	}
	if b == nil {
		return nil, 0, "", fmt.Errorf("this enrolment link is unknown or too old: %w; ask the administrator for a new link", ErrEnrolmentNotFound)
	}
	var rec enrolRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, 0, "", fmt.Errorf("enrolment link record is damaged (%v); ask the administrator for a new link", err)
	}
	if !rec.Used.IsZero() {
		return &rec, rev, hash, fmt.Errorf("enrolment link for %q was used at %s: %w; if that was not you, tell the administrator; for another phone ask for a new link",
			rec.Login, rec.Used.Format(time.RFC3339), ErrEnrolmentUsed)
	}
	if !s.now().Before(rec.Expires) {
		return &rec, rev, hash, fmt.Errorf("enrolment link for %q expired at %s: %w; ask the administrator for a new link",
			rec.Login, rec.Expires.Format(time.RFC3339), ErrEnrolmentExpired)
	}
	latest, _, err := getRev(ctx, s.enrol, latestLinkKey(rec.Login))
	if err != nil {
		return nil, 0, "", fmt.Errorf("reading enrolment link: %w; try again", err)
	}
	if latest != nil && string(latest) != hash {
		return &rec, rev, hash, fmt.Errorf("enrolment link for %q: %w; use the newest link you were sent", rec.Login, ErrEnrolmentSuperseded)
	}
	return &rec, rev, hash, nil
}

// PendingSecret returns what the enrolment page shows for a valid link; it changes nothing.
func (s *Service) PendingSecret(ctx context.Context, token string) (*PendingEnrolment, error) {
	rec, _, _, err := s.loadEnrolment(ctx, token)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.getUser(ctx, rec.Login); err != nil {
		return nil, err
	}
	secret, err := s.cfg.Keys.open(rec.Secret, otpAAD(rec.Login), rec.Login)
	if err != nil {
		return nil, err
	}
	return &PendingEnrolment{Login: rec.Login, Secret: string(secret), URL: otpauthURL(s.cfg.Issuer, rec.Login, string(secret)), Issuer: s.cfg.Issuer, Expires: rec.Expires}, nil
}

// EnrolmentQR renders the otpauth URL of a valid link as a PNG QR code.
func (s *Service) EnrolmentQR(ctx context.Context, token string, size int) ([]byte, error) {
	p, err := s.PendingSecret(ctx, token)
	if err != nil {
		return nil, err
	}
	k, err := otp.NewKeyFromURL(p.URL)
	if err != nil {
		return nil, fmt.Errorf("enrolment for %q: building QR code: %w", p.Login, err)
	}
	img, err := k.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("enrolment for %q: building QR code: %w", p.Login, err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("enrolment for %q: encoding QR code: %w", p.Login, err)
	}
	return buf.Bytes(), nil
}

// EnrolmentLogin names the user of an enrolment link whatever its state (used, expired), "" when
// the token names no link: the page shown after a confirmation greets the user by login, and the
// link is used by then, so PendingSecret no longer answers.
func (s *Service) EnrolmentLogin(ctx context.Context, token string) string {
	b, _, err := getRev(ctx, s.enrol, enrolKey(tokenHash(token)))
	if err != nil || b == nil {
		return ""
	}
	var rec enrolRecord
	if json.Unmarshal(b, &rec) != nil {
		return ""
	}
	return rec.Login
}

// ConfirmEnrolment activates the pending secret of the link when code is a valid current code
// for it. The link is marked used first, by an Update on the revision read, so it works exactly
// once even if two confirmations race; only then is the active secret replaced.
func (s *Service) ConfirmEnrolment(ctx context.Context, token, code string) error {
	for range casRetries {
		rec, rev, hash, err := s.loadEnrolment(ctx, token)
		if err != nil {
			return err
		}
		u, _, err := s.getUser(ctx, rec.Login)
		if err != nil {
			return err
		}
		if u.Disabled {
			return fmt.Errorf("enrolment for %q refused: %w; ask the administrator to enable the account", u.Login, ErrUserDisabled)
		}
		if !validCodeFormat(code) {
			return fmt.Errorf("enrolment for %q: %w; type the 6-digit code the app shows after scanning", u.Login, ErrOTPFormat)
		}
		secret, err := s.cfg.Keys.open(rec.Secret, otpAAD(rec.Login), rec.Login)
		if err != nil {
			return err
		}
		matched, ok, err := matchStep(string(secret), code, s.now(), s.skew)
		if err != nil {
			return fmt.Errorf("enrolment for %q: pending secret is unusable; ask the administrator for a new link", u.Login)
		}
		if !ok {
			return fmt.Errorf("enrolment for %q: %w: it does not match the code just scanned; check the phone's clock and type the current code", u.Login, ErrOTPInvalid)
		}
		now := s.now().UTC()
		rec.Used = now
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if _, err := s.enrol.Update(ctx, enrolKey(hash), b, rev); err != nil {
			if isConflict(err) {
				continue // someone else used or touched the link: re-read and report
			}
			return fmt.Errorf("enrolment for %q: %w; try again", u.Login, err)
		}
		if err := s.activateSecret(ctx, rec.Login, secret, matched, now); err != nil {
			return fmt.Errorf("%w; the link is now used up, ask the administrator for a new one", err)
		}
		s.log.Info("OTP enrolment confirmed", zapLogin(rec.Login), zap.String("enrolment", enrolID(hash)))
		s.audit(ctx, contracts.AuditEvent{Action: contracts.AuditEnrolment, Login: rec.Login, Outcome: contracts.AuditOK, Detail: "OTP secret activated"})
		return nil
	}
	return fmt.Errorf("enrolment: %w; try again", ErrBusy)
}

// activateSecret replaces the active secret. The confirming code's step counts as used, so it
// cannot also authorise a signature; failures and lockout start afresh with the new secret.
func (s *Service) activateSecret(ctx context.Context, login string, secret []byte, matched uint64, now time.Time) error {
	box, err := s.cfg.Keys.seal(secret, otpAAD(login)) // re-sealed: always under the newest key
	if err != nil {
		return err
	}
	key := loginKey(login)
	for range casRetries {
		b, rev, err := getRev(ctx, s.otp, key)
		if err != nil {
			return fmt.Errorf("enrolment for %q: reading OTP state: %w", login, err)
		}
		st := otpState{Login: login, Secret: box, Enrolled: now, LastStep: matched}
		if b != nil {
			var old otpState
			if json.Unmarshal(b, &old) == nil && old.LastStep > st.LastStep {
				st.LastStep = old.LastStep
			}
		}
		nb, err := json.Marshal(st)
		if err != nil {
			return err
		}
		if _, err := putRev(ctx, s.otp, key, nb, rev); err != nil {
			if isConflict(err) {
				continue
			}
			return fmt.Errorf("enrolment for %q: saving OTP secret: %w", login, err)
		}
		return nil
	}
	return fmt.Errorf("enrolment for %q: %w", login, ErrBusy)
}
