package keyring

// Limits is how hard the worker may drive one token: how many signatures at once and how many a
// second. Real USB tokens sign 2–20 times a second and smartcards take 50–500 ms per RSA-2048
// signature, with one chip for every certificate on them; a second signature sent meanwhile only
// waits inside the driver, where nothing can put a person's document before a night batch's.
type Limits struct {
	// Concurrency is the signatures the token is given at once (at least 1).
	Concurrency int
	// RatePerSec caps the signatures a second; 0: no cap.
	RatePerSec float64
	// Hardware: the token's slot reports CKF_HW_SLOT.
	Hardware bool
}

// Limits returns the limits of the token with the configured name: concurrency and rate_per_sec as
// configured; concurrency 0 becomes 1 on a hardware slot, or while the token has not been seen (the
// safe guess), and the session pool (max_sessions-1) on a software token such as SoftHSM. An unknown
// name gets concurrency 1.
func (k *Keyring) Limits(name string) Limits {
	t := k.byName[name]
	if t == nil {
		return Limits{Concurrency: 1}
	}
	t.mu.RLock()
	hw, seen := t.id.hardware, t.gen > 0
	t.mu.RUnlock()
	l := Limits{Concurrency: t.cfg.Concurrency, RatePerSec: t.cfg.RatePerSec, Hardware: hw}
	if l.Concurrency == 0 {
		l.Concurrency = 1
		if seen && !hw {
			l.Concurrency = max(t.cfg.MaxSessions-1, 1)
		}
	}
	return l
}
