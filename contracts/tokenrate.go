package contracts

import (
	"encoding/base64"
	"time"
)

// TokenRate is one worker's measurement of one PKCS#11 token: the signatures a second it sustains
// (mean C_Sign duration, times the concurrency the worker gives it, capped by its rate_per_sec).
// Workers keep it in the jobs bucket under TokenRateKey; the batch status and the inbox read it to
// estimate the time left from the token's rate (issue 21, must 5), without scraping any worker's
// /metrics.
type TokenRate struct {
	// Token is the configured name; Label the token's label (what token= of a key URI names).
	Token string `json:"token"`
	Label string `json:"label,omitempty"`
	// Worker names the process (host and pid).
	Worker      string    `json:"worker"`
	Rate        float64   `json:"signatures_per_s"`
	Concurrency int       `json:"concurrency"`
	RatePerSec  float64   `json:"rate_per_sec,omitempty"`
	Updated     time.Time `json:"updated"`
	// State is the token as the worker sees it: TokenOnline or TokenOffline (Err says why), with
	// its sessions; empty from a worker that predates it. `signet status` reads these records instead
	// of any process's /metrics (issue 21, must 3).
	State         string `json:"state,omitempty"`
	Err           string `json:"error,omitempty"`
	SessionsInUse int    `json:"sessions_in_use,omitempty"`
	MaxSessions   int    `json:"max_sessions,omitempty"`
	// The work at the token's gate in this worker when the record was written: signatures under way
	// (slots taken) and jobs waiting for a slot, people's (robot, Sign button, inbox) and batches'.
	// The inbox estimates a request's completion from them (issue 21, must 5); people's go first,
	// so a batch's waiting jobs are not ahead of a person's.
	Signing            int `json:"signing,omitempty"`
	WaitingInteractive int `json:"waiting_interactive,omitempty"`
	WaitingBatch       int `json:"waiting_batch,omitempty"`
}

// TokenRate.State values.
const (
	TokenOnline  = "online"
	TokenOffline = "offline"
)

// TokenRatePrefix begins every TokenRate key in the jobs bucket (beside "res.", "cb.", "out.").
const TokenRatePrefix = "tok."

// TokenRateKey is the jobs-bucket key of a worker's TokenRate for a token: both names in unpadded
// base64url, which keeps any label within the characters a KV key allows.
func TokenRateKey(token, worker string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return TokenRatePrefix + enc([]byte(token)) + "." + enc([]byte(worker))
}

// TokenRateFresh is how old a TokenRate may be and still count: workers refresh theirs every
// 10 seconds while they run and delete them when they stop cleanly, so an older one is a worker that
// was killed or lost NATS.
const TokenRateFresh = time.Minute
