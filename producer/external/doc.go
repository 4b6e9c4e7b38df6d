// Package external lets a person outside the company sign (issue 20, must 2): the route engine
// invites them (Invitation) with a single-use link sent by e-mail or SMS; the page the link opens
// (web/external.go) asks for a code sent to the same channel, shows the document, takes their
// signature picture and optional stamp, and on their confirmation the package queues a SignJob that
// the company's seal credential (external.seal_credential) signs, with their name, the channel and the
// evidence of the code in the signature's /Reason and /Location; or they decline with a reason. When the job is
// delivered, or they decline, or the invitation expires or locks, Done (the route engine) is told.
//
// It serves no HTTP (docs/architecture.md): the page calls Service. It keeps no secret in clear: the
// link's secret and the code are stored as hashes, and neither is ever logged, audited or put in an
// error. docs/external-signers.md describes the flow, the evidence and the limits.
package external
