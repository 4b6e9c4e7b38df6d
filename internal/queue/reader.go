package queue

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// readerIdle is how long the server keeps a reader's consumer after the reader stopped asking: a
// backstop for a process that dies mid-read. A reader that finishes deletes its consumer at once.
const readerIdle = 30 * time.Second

// Reader opens an ordered consumer to read stream once, and returns it with the function that
// deletes it. Every read of a stream (`signet dlq list`, the audit trail behind the public
// /verify/{id}) is one consumer, and a stream holds at most 1,000 (the server's default per stream):
// left to nats.go's 5-minute inactivity default, a thousand page views in five minutes would leave
// the stream unreadable, and a worker restarting then could not create its own consumer.
func Reader(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, func(), error) {
	if cfg.InactiveThreshold == 0 {
		cfg.InactiveThreshold = readerIdle
	}
	cons, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, nil, err
	}
	done := func() {
		info := cons.CachedInfo()
		if info == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteConsumer(ctx, stream, info.Name) // the idle threshold removes it otherwise
	}
	return cons, done, nil
}
