package worker

// PAdES B-LT and B-LTA at signing time (signing.level, issue 17 must 4 and 5): the signed document
// gets the chain's validation data and, for lta, a document timestamp before it is stored, so what
// Bitrix24 receives validates offline. The engine is pades.Extend.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/signet-b24/signet/pades"
)

// extend returns the signed document (size bytes) extended to s.Level, or as it is for other
// levels, and updates res's SHA256After. A responder or TSA outage passes (the job is retried); a
// signature that cannot be extended (its certificate revoked) is permanent.
func (s *Signer) extend(ctx context.Context, jobID, name string, signed io.Reader, size int64, res *pades.Result) (io.Reader, int64, error) {
	if s.Level != pades.LevelLT && s.Level != pades.LevelLTA {
		return signed, size, nil
	}
	doc := make([]byte, size)
	if _, err := io.ReadFull(signed, doc); err != nil {
		return nil, 0, fmt.Errorf("job %s: reading the signed document back: %w", jobID, err)
	}
	out, er, err := pades.Extend(ctx, doc, pades.ExtendOptions{Level: s.Level, Timestamper: s.TSA})
	if err != nil {
		err = fmt.Errorf("document %s of job %s: extending the signature to PAdES B-%s: %w", name, jobID, s.Level, err)
		if errors.Is(err, pades.ErrNotExtendable) {
			return nil, 0, Permanent(err)
		}
		return nil, 0, classify(err)
	}
	res.SHA256After = er.SHA256
	return bytes.NewReader(out), int64(len(out)), nil
}
