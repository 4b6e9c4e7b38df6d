// Package producer is everything before the queue: the HTTP doors Bitrix24 calls (the robot, install
// and uninstall events, the deal card's Sign dialog: robot.go, install.go, placement.go), the checks
// every request passes (the portal's application_token, the signer's OTP or batch grant, the
// credential's mapping and revocation, in producer/identity), and the publishing of SignJobs to
// JetStream with an idempotent Nats-Msg-Id; producer/batch enqueues a folder of documents the same way.
// A request that passes becomes a message, one that does not becomes a clear error for the workflow,
// and nothing in between is lost.
//
// It never signs and never touches a signing key or a certificate: of keyring it only parses a
// credential's PKCS#11 URI (keyring.ParseURI, to map a credential to a user and refuse a PIN in it),
// and it imports neither pades nor the worker (arch_test.go). The keys it does make are its own
// secrets: producer/identity's AES-256 sealing keys (GenerateKeyLine) and each user's TOTP seed. Making
// keys and certificates on a token is the administrator's, through `signet admin` and the control
// panel (web/credentials.go), both calling keyring.
package producer
