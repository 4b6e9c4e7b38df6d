package identity

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// Decision says why a signature was allowed; intake records it in the job and the audit trail.
type Decision struct {
	Login   string `json:"login"`
	Method  string `json:"method"` // MethodOTP, MethodOTPNotRequired or MethodGrant
	GrantID string `json:"grant_id,omitempty"`
	Step    uint64 `json:"step,omitempty"` // RFC 6238 time step T of the accepted code
}

// Decision methods.
const (
	MethodOTP            = "otp"
	MethodOTPNotRequired = "otp-not-required"
	MethodGrant          = "grant"
)

// otpState is one user's record in BucketOTP. LastStep is the highest time step ever accepted:
// RFC 6238 §5.2 says a verifier must not accept the second attempt of the same OTP, and pquerna/otp
// has no replay protection, so steps ≤ LastStep are refused here.
type otpState struct {
	Login       string    `json:"login"`
	Secret      sealed    `json:"secret"`
	Enrolled    time.Time `json:"enrolled"`
	LastStep    uint64    `json:"last_step"`
	Failures    int       `json:"failures"`
	LockedUntil time.Time `json:"locked_until"`
}

func otpAAD(login string) string { return "signet/otp-secret/v1/" + loginKey(login) }

// Authorize is the one check every intake path (robot, Sign button, batch) calls before a job
// is queued. With grantID it spends one document of that batch grant; otherwise a user with OTP
// disabled passes without a code ("otp-not-required"), and everyone else needs a valid, unused
// TOTP code.
func (s *Service) Authorize(ctx context.Context, login, code, grantID, credentialURI string) (*Decision, error) {
	u, _, err := s.getUser(ctx, login)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, fmt.Errorf("signature refused for %q: %w; ask the administrator to enable the account", u.Login, ErrUserDisabled)
	}
	if grantID != "" {
		return s.spendGrant(ctx, u, grantID, credentialURI)
	}
	if err := s.checkCredential(ctx, u, credentialURI); err != nil {
		return nil, err
	}
	if u.OTPDisabled {
		return &Decision{Login: u.Login, Method: MethodOTPNotRequired}, nil
	}
	step, err := s.verifyOTP(ctx, u.Login, code)
	if err != nil {
		return nil, err
	}
	return &Decision{Login: u.Login, Method: MethodOTP, Step: step}, nil
}

// step is RFC 6238 §4.2 T = floor((unix time − T0) / X) with T0 = 0, X = 30 s.
func step(t time.Time) uint64 { return uint64(t.Unix()) / period }

func validCodeFormat(code string) bool {
	if len(code) != 6 {
		return false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// matchStep returns the time step within ±skew of now whose code equals code. All candidate
// steps are computed and compared in constant time, so timing does not reveal which one matched.
func matchStep(secret, code string, now time.Time, skew uint) (uint64, bool, error) {
	cur := step(now)
	var found uint64
	ok := 0
	for d := -int64(skew); d <= int64(skew); d++ {
		if d < 0 && uint64(-d) > cur {
			continue
		}
		st := uint64(int64(cur) + d)
		want, err := hotp.GenerateCodeCustom(secret, st, hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false, err
		}
		eq := subtle.ConstantTimeCompare([]byte(want), []byte(code))
		// Keep the highest matching step: after a match at st, every step ≤ st is spent.
		if eq == 1 {
			found = st
		}
		ok |= eq
	}
	return found, ok == 1, nil
}

// verifyOTP checks code for login and records the outcome atomically: the state is updated on
// the revision read, and a lost race re-reads, so of two intakes with the same code exactly one
// sees its step unused. Wrong codes count towards the lockout; replays do not (they prove
// knowledge of a valid code, and counting them would let anyone who saw a code lock the user out).
func (s *Service) verifyOTP(ctx context.Context, login, code string) (uint64, error) {
	key := loginKey(login)
	for range casRetries {
		b, rev, err := getRev(ctx, s.otp, key)
		if err != nil {
			return 0, fmt.Errorf("OTP check for %q: reading state: %w; try again", login, err)
		}
		if b == nil {
			return 0, fmt.Errorf("OTP rejected for %q: %w; ask the administrator for an enrolment link", login, ErrNotEnrolled)
		}
		var st otpState
		if err := json.Unmarshal(b, &st); err != nil {
			return 0, fmt.Errorf("OTP check for %q: damaged OTP record (%v); enrol the user again", login, err)
		}
		now := s.now()
		if now.Before(st.LockedUntil) {
			return 0, fmt.Errorf("OTP rejected for %q: %w; try again after %s", login, ErrLockedOut, st.LockedUntil.UTC().Format(time.RFC3339))
		}
		if !validCodeFormat(code) {
			// Malformed input is refused before touching the secret and without counting: it
			// cannot be a guess at the code.
			return 0, fmt.Errorf("OTP rejected for %q: %w; type the 6-digit code shown by the authenticator app", login, ErrOTPFormat)
		}
		secret, err := s.cfg.Keys.open(st.Secret, otpAAD(login), login)
		if err != nil {
			return 0, err
		}
		matched, ok, err := matchStep(string(secret), code, now, s.skew)
		if err != nil {
			return 0, fmt.Errorf("OTP check for %q: stored secret is unusable; enrol the user again", login)
		}
		if ok && matched <= st.LastStep {
			return 0, fmt.Errorf("OTP rejected for %q: %w; wait for the next code", login, ErrOTPReplayed)
		}
		var result error
		if ok {
			st.LastStep, st.Failures, st.LockedUntil = matched, 0, time.Time{}
		} else {
			st.Failures++
			result = fmt.Errorf("OTP rejected for %q: %w (%d of %d before a lockout); check the phone's clock and type the current code",
				login, ErrOTPInvalid, st.Failures, s.cfg.MaxFailures)
			if st.Failures >= s.cfg.MaxFailures {
				st.Failures = 0
				st.LockedUntil = now.Add(s.cfg.Lockout).UTC()
				result = fmt.Errorf("OTP rejected for %q: %w, %w; try again after %s", login, ErrOTPInvalid, ErrLockedOut, st.LockedUntil.Format(time.RFC3339))
			}
		}
		nb, err := json.Marshal(st)
		if err != nil {
			return 0, fmt.Errorf("OTP check for %q: %w", login, err)
		}
		if _, err := s.otp.Update(ctx, key, nb, rev); err != nil {
			if isConflict(err) {
				continue
			}
			return 0, fmt.Errorf("OTP check for %q: saving state: %w; try again", login, err)
		}
		if errors.Is(result, ErrLockedOut) {
			s.log.Warn("user locked out after too many wrong OTP codes", zapLogin(login),
				zap.Int("max_failures", s.cfg.MaxFailures), zap.Time("locked_until", st.LockedUntil))
			s.audit(ctx, contracts.AuditEvent{Action: contracts.AuditOTPLockout, Login: login, Outcome: contracts.AuditRefused,
				Reason: fmt.Sprintf("%d wrong codes in a row; locked until %s", s.cfg.MaxFailures, st.LockedUntil.Format(time.RFC3339))})
		} else if result != nil {
			s.log.Info("wrong OTP code", zapLogin(login), zap.Int("failures", st.Failures))
		}
		if result != nil {
			return 0, result
		}
		return matched, nil
	}
	return 0, fmt.Errorf("OTP check for %q: %w; try again", login, ErrBusy)
}
