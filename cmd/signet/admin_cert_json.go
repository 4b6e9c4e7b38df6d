package main

import (
	"io"
	"time"

	"github.com/signet-b24/signet/keyring"
)

type tokenJSON struct {
	Name   string `json:"name"`
	Online bool   `json:"online"`
	Error  string `json:"error,omitempty"`
}

// certWriteJSON prints the credentials, as the admin API describes them (keyring.View), and the
// tokens' state as one JSON object: `signet admin cert list --json`.
func certWriteJSON(w io.Writer, creds []*keyring.Credential, status []keyring.TokenStatus) error {
	out := struct {
		Credentials []keyring.CredentialView `json:"credentials"`
		Tokens      []tokenJSON              `json:"tokens"`
	}{Credentials: []keyring.CredentialView{}, Tokens: []tokenJSON{}}
	now := time.Now()
	for _, c := range creds {
		out.Credentials = append(out.Credentials, keyring.View(c, now))
	}
	for _, s := range status {
		out.Tokens = append(out.Tokens, tokenJSON{Name: s.Name, Online: s.Online, Error: s.Err})
	}
	return writeJSON(w, out)
}
