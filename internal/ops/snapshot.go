package ops

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
)

// Stream is one stream's state.
type Stream struct {
	Name  string `json:"name"`
	Msgs  uint64 `json:"messages"`
	Bytes uint64 `json:"bytes"`
}

// Consumer is one durable consumer's state as its leader reports it (ConsumerInfo is answered by the
// leader, so these are the authoritative lag numbers, see the notes on follower drift).
type Consumer struct {
	Stream         string `json:"stream"`
	Name           string `json:"consumer"`
	NumPending     uint64 `json:"num_pending"`
	NumAckPending  int    `json:"num_ack_pending"`
	NumRedelivered int    `json:"num_redelivered"`
	NumWaiting     int    `json:"num_waiting"`
	// Acked counts the messages acknowledged so far (the ack floor's consumer sequence): its change
	// over time is the consumer's throughput.
	Acked uint64 `json:"ack_floor"`
	// Rate is messages acknowledged per second over the sampling interval (0 on a single snapshot).
	Rate float64 `json:"rate"`
	// Drain is the estimated time to work off pending and ack pending at Rate (0 when unknown).
	Drain time.Duration `json:"drain_ns"`
}

// Snapshot is the state of every Signet stream and consumer at one moment.
type Snapshot struct {
	Time      time.Time  `json:"time"`
	Streams   []Stream   `json:"streams"`
	Consumers []Consumer `json:"consumers"`
}

// Streams and consumers in the order they are shown: the queue first, then what follows it.
var (
	streamNames   = []string{contracts.StreamSign, contracts.StreamCallback, contracts.StreamDead, contracts.StreamAudit}
	consumerNames = [][2]string{
		{contracts.StreamSign, contracts.ConsumerSignInteractive},
		{contracts.StreamSign, contracts.ConsumerSignBatch},
		{contracts.StreamCallback, contracts.ConsumerCallback},
		{contracts.StreamCallback, contracts.ConsumerCallbackBatch},
	}
)

// Take reads every stream and consumer. A missing one is left out; another error is returned.
func Take(ctx context.Context, js jetstream.JetStream) (*Snapshot, error) {
	s := &Snapshot{Time: time.Now()}
	for _, name := range streamNames {
		st, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		info, err := st.Info(ctx)
		if err != nil {
			return nil, err
		}
		s.Streams = append(s.Streams, Stream{Name: name, Msgs: info.State.Msgs, Bytes: info.State.Bytes})
	}
	for _, sc := range consumerNames {
		c, err := js.Consumer(ctx, sc[0], sc[1])
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return nil, err
		}
		s.Consumers = append(s.Consumers, Consumer{Stream: sc[0], Name: sc[1], NumPending: info.NumPending,
			NumAckPending: info.NumAckPending, NumRedelivered: info.NumRedelivered, NumWaiting: info.NumWaiting,
			Acked: info.AckFloor.Consumer})
	}
	return s, nil
}

// WithRates fills each consumer's Rate and Drain from an earlier snapshot.
func (s *Snapshot) WithRates(prev *Snapshot) *Snapshot {
	if prev == nil {
		return s
	}
	dt := s.Time.Sub(prev.Time).Seconds()
	if dt <= 0 {
		return s
	}
	for i := range s.Consumers {
		c := &s.Consumers[i]
		for _, p := range prev.Consumers {
			if p.Stream == c.Stream && p.Name == c.Name && c.Acked >= p.Acked {
				c.Rate = float64(c.Acked-p.Acked) / dt
			}
		}
		if c.Rate > 0 {
			c.Drain = time.Duration(float64(c.NumPending+uint64(c.NumAckPending)) / c.Rate * float64(time.Second))
		}
	}
	return s
}

// Consumer returns the named consumer of the snapshot, or nil.
func (s *Snapshot) Consumer(stream, name string) *Consumer {
	for i := range s.Consumers {
		if s.Consumers[i].Stream == stream && s.Consumers[i].Name == name {
			return &s.Consumers[i]
		}
	}
	return nil
}

// Stream returns the named stream of the snapshot, or nil.
func (s *Snapshot) Stream(name string) *Stream {
	for i := range s.Streams {
		if s.Streams[i].Name == name {
			return &s.Streams[i]
		}
	}
	return nil
}
