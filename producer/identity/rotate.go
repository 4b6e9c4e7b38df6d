package identity

import (
	"context"
	"encoding/json"
	"fmt"

	"go.uber.org/zap"
)

// KeyUsage counts the stored secrets (active OTP secrets and pending enrolments) by the key id
// that sealed them, so an operator can tell when a rotated-out key is no longer needed.
func (s *Service) KeyUsage(ctx context.Context) (map[string]int, error) {
	use := map[string]int{}
	err := s.eachSealed(ctx, func(kv string, box *sealed, _ string) (bool, error) {
		use[box.KeyID]++
		return false, nil
	})
	return use, err
}

// Reseal re-encrypts every stored secret not sealed with the active key under the active key
// (each record by an Update on its revision, so a concurrent sign or enrolment is never lost).
// It returns how many records it rewrote. After it, the old key lines can be removed.
func (s *Service) Reseal(ctx context.Context) (int, error) {
	active := s.cfg.Keys.ActiveID()
	n := 0
	err := s.eachSealed(ctx, func(kv string, box *sealed, login string) (bool, error) {
		if box.KeyID == active {
			return false, nil
		}
		plain, err := s.cfg.Keys.open(*box, otpAAD(login), login)
		if err != nil {
			return false, err
		}
		nb, err := s.cfg.Keys.seal(plain, otpAAD(login))
		if err != nil {
			return false, err
		}
		*box = nb
		n++
		return true, nil
	})
	if err == nil {
		s.log.Info("OTP secrets re-sealed under the active key", zap.Int("rewritten", n), zap.String("key", active))
	}
	return n, err
}

// eachSealed visits the sealed secret of every OTP state and enrolment record; when fn reports a
// change the record is written back on the revision read, and re-read and re-visited on conflict.
func (s *Service) eachSealed(ctx context.Context, fn func(bucket string, box *sealed, login string) (bool, error)) error {
	visit := func(bucket, key string, get func() ([]byte, uint64, error), put func([]byte, uint64) error, decode func([]byte) (any, *sealed, string, error)) error {
		for range casRetries {
			b, rev, err := get()
			if err != nil {
				return fmt.Errorf("%s %s: %w", bucket, key, err)
			}
			if b == nil {
				return nil
			}
			rec, box, login, err := decode(b)
			if err != nil {
				return fmt.Errorf("%s %s: damaged record: %w", bucket, key, err)
			}
			changed, err := fn(bucket, box, login)
			if err != nil || !changed {
				return err
			}
			nb, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := put(nb, rev); err != nil {
				if isConflict(err) {
					continue
				}
				return fmt.Errorf("%s %s: %w", bucket, key, err)
			}
			return nil
		}
		return fmt.Errorf("%s %s: %w; run it again", bucket, key, ErrBusy)
	}

	otpKeys, err := listKeys(ctx, s.otp, ">")
	if err != nil {
		return fmt.Errorf("listing OTP secrets: %w", err)
	}
	for _, k := range otpKeys {
		err := visit(BucketOTP, k,
			func() ([]byte, uint64, error) { return getRev(ctx, s.otp, k) },
			func(b []byte, rev uint64) error { _, err := s.otp.Update(ctx, k, b, rev); return err },
			func(b []byte) (any, *sealed, string, error) {
				var st otpState
				err := json.Unmarshal(b, &st)
				return &st, &st.Secret, st.Login, err
			})
		if err != nil {
			return err
		}
	}
	enrolKeys, err := listKeys(ctx, s.enrol, "t.>")
	if err != nil {
		return fmt.Errorf("listing enrolment links: %w", err)
	}
	for _, k := range enrolKeys {
		err := visit(BucketEnrol, k,
			func() ([]byte, uint64, error) { return getRev(ctx, s.enrol, k) },
			func(b []byte, rev uint64) error { _, err := s.enrol.Update(ctx, k, b, rev); return err },
			func(b []byte) (any, *sealed, string, error) {
				var rec enrolRecord
				err := json.Unmarshal(b, &rec)
				return &rec, &rec.Secret, rec.Login, err
			})
		if err != nil {
			return err
		}
	}
	return nil
}
