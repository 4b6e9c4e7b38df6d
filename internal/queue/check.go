package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// Missing looks the streams and consumers up, changing nothing, and names each one that does not
// exist. Read-only commands (`signet status`) and servers that do not provision (nats.provision
// false) use it instead of Provision, so that a process whose configuration differs from the
// cluster's never rescales or reconfigures it (issue 21 must 3).
func Missing(ctx context.Context, js jetstream.JetStream) ([]string, error) {
	var missing []string
	for _, sc := range Streams(Settings{}) {
		_, err := js.Stream(ctx, sc.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			missing = append(missing, "stream "+sc.Name)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking up stream %s: %w", sc.Name, err)
		}
	}
	byStream := Consumers(Settings{})
	streams := make([]string, 0, len(byStream))
	for s := range byStream {
		streams = append(streams, s)
	}
	slices.Sort(streams) // a stable order for the report
	for _, stream := range streams {
		if slices.Contains(missing, "stream "+stream) {
			continue // its consumers are missing with it
		}
		for _, cc := range byStream[stream] {
			_, err := js.Consumer(ctx, stream, cc.Durable)
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				missing = append(missing, "consumer "+stream+"/"+cc.Durable)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("looking up consumer %s on %s: %w", cc.Durable, stream, err)
			}
		}
	}
	return missing, nil
}

// MissingError says what to do about missing streams and consumers.
func MissingError(missing []string) error {
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("JetStream is not provisioned (missing %v): run `signet setup` or start a server with nats.provision true", missing)
}
