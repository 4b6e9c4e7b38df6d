package producer

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/producer/batch"
	"github.com/signet-b24/signet/producer/requests"
)

// requestETA estimates when a queued request's job is signed (issue 21, must 5), from the same
// source as a batch's time left: the workers' records of its token (batch.ReadTokenLoad). What is
// ahead of it is the work at the token that its gate serves first (the signatures under way and the
// people's jobs waiting; a batch's jobs wait behind it), and the request itself; at the token's
// measured rate that is batch.TimeFor. The words are the reader's: their language, and the time in
// the request's zone (the signer's Bitrix24 TIME_ZONE, which the job carries; locale.go), with
// "about N minutes" in the language's plural forms. An unmeasured token is said to be one: no guess.
// expected is zero then.
func (in *Intake) requestETA(ctx context.Context, l *i18n.Localizer, q *requests.Request, loads map[string]batch.TokenLoad) (words string, expected time.Time, err error) {
	load, ok := loads[q.Job.Credential]
	if !ok {
		kv, err := in.JS.KeyValue(ctx, contracts.BucketJobs)
		switch {
		case errors.Is(err, jetstream.ErrBucketNotFound):
			// No worker has started yet: nothing is measured.
		case err != nil:
			return "", time.Time{}, err
		default:
			if load, err = batch.ReadTokenLoad(ctx, kv, q.Job.Credential, in.now()); err != nil {
				return "", time.Time{}, err
			}
		}
		loads[q.Job.Credential] = load
	}
	d := batch.TimeFor(load.Ahead(q.Job.Kind)+1, load.Rate)
	if d <= 0 {
		return l.T("inbox.eta.unknown"), time.Time{}, nil
	}
	expected = in.now().Add(d).UTC().Truncate(time.Second)
	at := l.DateTime(expected.In(requestZone(q)))
	if d < 30*time.Second {
		return l.T("inbox.eta.soon", at), expected, nil
	}
	return l.T("inbox.eta.minutes", max(int(math.Round(d.Minutes())), 1), at), expected, nil
}

// requestZone is the zone the request's times are shown in: the signer's, which the job carries
// (locale.go decided it when the robot called); UTC for a zone that no longer loads.
func requestZone(q *requests.Request) *time.Location {
	zone, err := i18n.LoadZone(q.Job.TimeZone)
	if err != nil {
		return time.UTC
	}
	return zone
}
