// Package bitrix24 speaks the Bitrix24 REST protocol for Signet: it parses what a portal POSTs to us
// (robot calls, ONAPPINSTALL/ONAPPUNINSTALL, PHP-style bracket forms) and calls the portal back through
// Client (OAuth refresh, per-portal rate limit, batch, file download from the portal only).
//
// The protocol followed is /work/shared/reference/bitrix24-rest.md (sections are cited as "reference §N").
// Tenants are keyed by member_id, never by domain (a portal can move).
//
// This package must never log or put into an error message an access token, refresh token,
// application_token, client secret, or a URL that may carry one (download URLs carry auth=), and must
// never send the client secret anywhere but the OAuth server.
package bitrix24
