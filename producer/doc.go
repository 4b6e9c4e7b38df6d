// Package producer is everything before the queue: the HTTP intake that Bitrix24 calls (robot, install,
// later the Sign button and batches), the checks every request passes (portal application_token, the
// signer's OTP or batch grant), and the publishing of SignJobs to JetStream with an idempotent
// Nats-Msg-Id. It never signs and never touches a key: a request that passes becomes a message, one
// that does not becomes a clear error for the workflow, and nothing in between is lost.
package producer
