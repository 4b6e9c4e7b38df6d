package main

import "github.com/signet-b24/signet/pades"

// timestamper is the RFC 3161 authority of signing.tsa_url (PAdES B-T, issue 17 must 2), or nil.
// config.Validate has refused a URL that is not http(s) or that carries credentials.
func (a *app) timestamper() pades.Timestamper {
	if a.cfg.Signing.TSAURL == "" {
		return nil
	}
	return pades.HTTPTimestamper{URL: a.cfg.Signing.TSAURL}
}
