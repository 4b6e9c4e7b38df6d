package web

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/producer/identity"
)

// Where the local administrators are kept. One host: the file security.admin_passwords_file, as
// before. Several intakes: one sealed record in NATS (contracts.BucketSecrets, key AdminsKey), so a
// password set on one host signs in on every other and a session opened on intake A is checked on
// intake B against the same hash (issue 21 must 1). The record is the file's text, sealed under
// security.secret_keys_file: a stolen bucket gives no hash to crack offline.

// AdminStore holds the local administrators' "login:hash" lines.
type AdminStore interface {
	// Load returns login → PHC hash; an empty map when there are none yet.
	Load(ctx context.Context) (map[string]string, error)
	// Change applies f to the accounts and stores the result; nothing is stored when f fails.
	Change(ctx context.Context, f func(map[string]string) error) error
	// String names the store for messages (a path or a bucket, never a hash).
	String() string
}

// AdminsFile is the passwords file at its path.
type AdminsFile string

func (p AdminsFile) Load(context.Context) (map[string]string, error) { return readAccounts(string(p)) }

func (p AdminsFile) Change(_ context.Context, f func(map[string]string) error) error {
	accounts, err := readAccounts(string(p))
	if err != nil {
		return err
	}
	if err := f(accounts); err != nil {
		return err
	}
	return writeAccounts(string(p), accounts)
}

func (p AdminsFile) String() string { return string(p) }

// AdminsKey is the record of the local administrators in contracts.BucketSecrets.
const AdminsKey = "local-admins"

// adminsAAD binds the sealed record to its key: a sealed secret copied there does not open.
const adminsAAD = "signet secrets " + AdminsKey

// AdminsNATS is the sealed record in NATS.
type AdminsNATS struct {
	KV   jetstream.KeyValue
	Keys *identity.Keys
}

func (s *AdminsNATS) String() string { return "NATS bucket " + contracts.BucketSecrets }

// load returns the accounts and the record's revision (0: no record yet).
func (s *AdminsNATS) load(ctx context.Context) (map[string]string, uint64, error) {
	e, err := s.KV.Get(ctx, AdminsKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return map[string]string{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading the local administrators from %s: %w", s, err)
	}
	plain, err := s.Keys.Open(e.Value(), adminsAAD)
	if err != nil {
		return nil, 0, fmt.Errorf("local administrators in %s: %w; security.secret_keys_file must be the same file on every host", s, err)
	}
	accounts, err := parseAccounts(plain, "local administrators in "+s.String())
	return accounts, e.Revision(), err
}

func (s *AdminsNATS) Load(ctx context.Context) (map[string]string, error) {
	accounts, _, err := s.load(ctx)
	return accounts, err
}

// Change reads, changes and writes back on the revision it read: two administrators set at once on
// two hosts both stay (the loser of the race reads again and reapplies its change).
func (s *AdminsNATS) Change(ctx context.Context, f func(map[string]string) error) error {
	for range 10 {
		accounts, rev, err := s.load(ctx)
		if err != nil {
			return err
		}
		if err := f(accounts); err != nil {
			return err
		}
		sealed, err := s.Keys.Seal([]byte(formatAccounts(accounts)), adminsAAD)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = s.KV.Create(ctx, AdminsKey, sealed)
		} else {
			_, err = s.KV.Update(ctx, AdminsKey, sealed, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return fmt.Errorf("storing the local administrators in %s: %w", s, err)
		}
	}
	return fmt.Errorf("the local administrators in %s keep changing under this change; try again", s)
}

// isWrongSequence is the server's answer to an Update on a revision that is no longer the last.
func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// ImportAdminsFile moves the accounts of the passwords file at path into to, once: the file's logins
// are added (a login in both takes the file's hash, the newer: the file exists only because
// `signet admin local-admin set` wrote it while no NATS was reachable), then the file is renamed
// path+".imported" so that it is not read again. No file: nothing to do. It returns how many logins
// it imported.
func ImportAdminsFile(ctx context.Context, path string, to AdminStore) (int, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	from, err := readAccounts(path)
	if err != nil {
		return 0, err
	}
	if err := to.Change(ctx, func(accounts map[string]string) error {
		for l, h := range from {
			accounts[l] = h
		}
		return nil
	}); err != nil {
		return 0, err
	}
	// Two intakes importing the same file at once: the second finds it gone, which is fine.
	if err := os.Rename(path, path+".imported"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return len(from), fmt.Errorf("imported %s but cannot rename it (%w); delete it, it is no longer read", path, err)
	}
	return len(from), nil
}

// admins is where the pages find the local administrators.
func (p *Pages) admins() AdminStore {
	if p.cfg.Admins != nil {
		return p.cfg.Admins
	}
	return AdminsFile(p.cfg.PasswordsFile)
}
