package worker

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/metrics"
	"github.com/signet-b24/signet/keyring"
)

// ExpiryWarning is how long before a certificate ends Signet starts warning about it.
const ExpiryWarning = 30 * 24 * time.Hour

// Monitor keeps the gauges of tokens, credentials and JetStream consumers current and warns in the log
// about certificates that expire within ExpiryWarning.
type Monitor struct {
	JS    jetstream.JetStream
	Keys  *keyring.Keyring
	Log   *zap.Logger
	Every time.Duration // token and consumer gauges; default 15 s
	// CredentialsEvery is how often certificates are listed for the expiry gauge and warning; default 1 h.
	CredentialsEvery time.Duration
	Now              func() time.Time
}

// Run updates the gauges until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	every, credEvery := m.Every, m.CredentialsEvery
	if every <= 0 {
		every = 15 * time.Second
	}
	if credEvery <= 0 {
		credEvery = time.Hour
	}
	m.credentials(ctx)
	t, ct := time.NewTicker(every), time.NewTicker(credEvery)
	defer t.Stop()
	defer ct.Stop()
	for {
		m.tokens()
		m.consumers(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ct.C:
			m.credentials(ctx)
		}
	}
}

func (m *Monitor) tokens() {
	if m.Keys == nil {
		return
	}
	for _, s := range m.Keys.Status() {
		online := 0.0
		if s.Online {
			online = 1
		}
		metrics.TokenOnline.WithLabelValues(s.Name).Set(online)
		metrics.TokenSessionsInUse.WithLabelValues(s.Name).Set(float64(s.SessionsInUse))
		metrics.TokenSessionsMax.WithLabelValues(s.Name).Set(float64(s.MaxSessions))
	}
}

// credentials sets the expiry gauge of every credential and warns about those ending soon.
func (m *Monitor) credentials(ctx context.Context) {
	if m.Keys == nil {
		return
	}
	creds, err := m.Keys.List(ctx, "")
	if err != nil {
		m.Log.Warn("listing credentials for the expiry check", zap.Error(err))
	}
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	for _, c := range creds {
		left := c.Certificate.NotAfter.Sub(now)
		metrics.CredentialExpirySeconds.WithLabelValues(c.Token, c.URI).Set(left.Seconds())
		switch {
		case left <= 0:
			m.Log.Warn("certificate has expired; signing with it fails", zap.String("credential", c.URI),
				zap.String("subject", c.Certificate.Subject.String()), zap.Time("not_after", c.Certificate.NotAfter))
		case left < ExpiryWarning:
			m.Log.Warn("certificate expires soon; issue or import a new one and map it", zap.String("credential", c.URI),
				zap.String("subject", c.Certificate.Subject.String()), zap.Int("days_left", int(left.Hours()/24)))
		}
	}
}

func (m *Monitor) consumers(ctx context.Context) {
	if m.JS == nil {
		return
	}
	for stream, names := range map[string][]string{
		contracts.StreamSign:     {contracts.ConsumerSignInteractive, contracts.ConsumerSignBatch},
		contracts.StreamCallback: {contracts.ConsumerCallback, contracts.ConsumerCallbackBatch},
	} {
		for _, name := range names {
			c, err := m.JS.Consumer(ctx, stream, name)
			if err != nil {
				continue
			}
			info, err := c.Info(ctx)
			if err != nil {
				continue
			}
			metrics.ConsumerPending.WithLabelValues(stream, name).Set(float64(info.NumPending))
			metrics.ConsumerAckPending.WithLabelValues(stream, name).Set(float64(info.NumAckPending))
			metrics.ConsumerRedelivered.WithLabelValues(stream, name).Set(float64(info.NumRedelivered))
		}
	}
	if s, err := m.JS.Stream(ctx, contracts.StreamDead); err == nil {
		if info, err := s.Info(ctx); err == nil {
			metrics.DeadMessages.Set(float64(info.State.Msgs))
		}
	}
}
