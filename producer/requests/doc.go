// Package requests holds the requests to sign (issue 19, must 1): a robot call whose signer needs a
// one-time code and got none becomes a Request stored in NATS KV (contracts.BucketRequests), the
// workflow waits (the robot is registered with USE_SUBSCRIPTION), and the request ends exactly once,
// in one of three ways:
//
//   - signed: the signer's inbox calls Service.Sign with one code for one or several requests; the
//     code makes a batch grant scoped to exactly that many documents and that certificate, and each
//     request becomes its SignJob (same id), which the worker signs and completes the robot with;
//   - declined: Service.Decline with the signer's reason, which the workflow receives;
//   - expired: the sweeper (Service.Sweep, Service.Run) ends a request past its deadline.
//
// Every end is a compare-and-set from pending on the request's key, so a sign racing a decline or
// the sweeper ends the request once; what each end then publishes carries the request's id as its
// Nats-Msg-Id (the job, or "cb-<id>" for a decline or expiry), and the worker completes a robot once
// per job id (its callback steps), so a replayed end still makes one bizproc.event.send.
//
// The package carries no HTTP: the signer's inbox page (a later slice, web/) calls List, Get,
// Decline and Sign. Publishing is the intake's (Queue), so jobs are authorised, audited and signed
// with the job key on one path.
package requests
