// Package web is the one home of Signet's web surface: every page, admin API and public endpoint a
// browser, a script or a verifier reaches, with its templates (templates/), CSS and script (static/)
// embedded: server-rendered with html/template and a little JavaScript, no build step, nothing
// fetched at run time, so it works on a closed network. One file per surface:
//
//	/admin/…             the control panel (pages.go, session.go, users.go, credentials.go, portals.go,
//	                     revoke.go, portaladmin.go for administrators coming from their portal)
//	/verify              the public verification page: upload a signed PDF, see each signature, download
//	                     the validation report (verify.go, verifylimit.go)
//	/verify/{id}         what the audit trail recorded for one document (trail.go)
//	/enrol/{token}       a user's enrolment in one-time passwords (enrol.go)
//	/ops                 the operator dashboard (ops.go, opschart.go)
//	/v1/admin/…, /v1/grants   the admin API, JSON (api.go, api_users.go, api_credentials.go, api_revoke.go)
//	/ca/crl/…, /ca/ocsp  the internal CA's CRL and OCSP responder (revocation.go)
//	/files/…             the local storage backend's download links (files.go)
//
// The handlers call the domain packages (producer/identity, keyring, pades, storage, internal/audit,
// internal/ops) and hold no logic of their own beyond HTTP: reading a request, choosing a status,
// rendering a view. Only cmd/signet mounts them (listeners.go); web never imports the worker, and no
// domain package imports web (arch_test.go, docs/architecture.md). The Bitrix24 doors (the robot, the
// install events and the deal card's Sign dialog) stay with the intake in producer/.
//
// The package must never put a secret (a password, a session or CSRF token, an OTP secret) in a log
// line, an error message or a URL, nor an enrolment link in a log line, and never serve a control-panel page,
// an admin API call or a change without an administrator's session and its CSRF token, or the admin
// API's bearer token.
package web
