package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// User is a person who may sign. Login equals the Bitrix24 login; BitrixIDs maps a portal's
// member_id to the user's numeric id on that portal, because robot calls name the signer as
// "user_<ID>". Enrolled is derived from the OTP state and cannot be set.
type User struct {
	Login       string         `json:"login"`
	Description string         `json:"description,omitempty"`
	BitrixIDs   map[string]int `json:"bitrix_ids,omitempty"`
	OTPDisabled bool           `json:"otp_disabled"`
	// SelfEnrol lets the user enrol an authenticator from inside Bitrix24 (the application's page,
	// selfenrol.go) instead of through a link an administrator sends: issue 19 must 5.
	SelfEnrol bool `json:"self_enrol,omitempty"`
	// Credentials are the PKCS#11 URIs of the keys the user may sign with; DefaultCredential is used
	// when a request names none.
	Credentials       []string  `json:"credentials,omitempty"`
	DefaultCredential string    `json:"default_credential,omitempty"`
	Disabled          bool      `json:"disabled"`
	Enrolled          bool      `json:"enrolled"`
	Created           time.Time `json:"created"`
	Updated           time.Time `json:"updated"`
}

func userKey(login string) string { return "user." + loginKey(login) }

// bitrixKey is the index entry (member_id, Bitrix24 user id) → login.
func bitrixKey(memberID string, id int) string {
	return "bx." + base64.RawURLEncoding.EncodeToString([]byte(memberID)) + "." + strconv.Itoa(id)
}

// ValidateLogin accepts what a Bitrix24 login can be (often an e-mail address) but refuses what
// would break a URL path segment or a log line.
func ValidateLogin(login string) error {
	if login == "" || strings.TrimSpace(login) != login || len(login) > 128 {
		return fmt.Errorf("login %q must be 1–128 characters without leading or trailing spaces: %w", login, ErrInvalidLogin)
	}
	for _, r := range login {
		if r == '/' || r == '\\' || unicode.IsControl(r) {
			return fmt.Errorf("login %q must not contain '/', '\\' or control characters; use the Bitrix24 login: %w", login, ErrInvalidLogin)
		}
	}
	return nil
}

func validateBitrixIDs(login string, ids map[string]int) error {
	for m, id := range ids {
		if strings.TrimSpace(m) == "" || id <= 0 {
			return fmt.Errorf("user %q: Bitrix24 mapping needs a member_id and a positive user id (got %q → %d): %w", login, m, id, ErrInvalidLogin)
		}
	}
	return nil
}

// AddUser stores a new user; ErrUserExists if the login is taken (case-insensitively).
func (s *Service) AddUser(ctx context.Context, u User) error {
	if err := ValidateLogin(u.Login); err != nil {
		return err
	}
	if err := validateBitrixIDs(u.Login, u.BitrixIDs); err != nil {
		return err
	}
	if err := s.checkBitrixFree(ctx, u.Login, u.BitrixIDs); err != nil {
		return err
	}
	now := s.now().UTC()
	u.Created, u.Updated, u.Enrolled = now, now, false
	b, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("adding user %q: %w", u.Login, err)
	}
	if _, err := s.users.Create(ctx, userKey(u.Login), b); err != nil {
		if isConflict(err) {
			return fmt.Errorf("adding user %q: %w; use a different login or update the existing user", u.Login, ErrUserExists)
		}
		return fmt.Errorf("adding user %q: %w", u.Login, err)
	}
	if err := s.indexBitrix(ctx, u.Login, nil, u.BitrixIDs); err != nil {
		return err
	}
	s.log.Info("user added", zapLogin(u.Login))
	return nil
}

// GetUser returns the user; ErrUserNotFound if there is none.
func (s *Service) GetUser(ctx context.Context, login string) (*User, error) {
	u, _, err := s.getUser(ctx, login)
	if err != nil {
		return nil, err
	}
	if err := s.fillEnrolled(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Service) getUser(ctx context.Context, login string) (*User, uint64, error) {
	b, rev, err := getRev(ctx, s.users, userKey(login))
	if err != nil {
		return nil, 0, fmt.Errorf("reading user %q: %w", login, err)
	}
	if b == nil {
		return nil, 0, fmt.Errorf("user %q: %w; add the user first (signet admin user add)", login, ErrUserNotFound)
	}
	var u User
	if err := json.Unmarshal(b, &u); err != nil {
		return nil, 0, fmt.Errorf("reading user %q: damaged record: %w", login, err)
	}
	return &u, rev, nil
}

func (s *Service) fillEnrolled(ctx context.Context, u *User) error {
	b, _, err := getRev(ctx, s.otp, loginKey(u.Login))
	if err != nil {
		return fmt.Errorf("reading OTP state of %q: %w", u.Login, err)
	}
	u.Enrolled = b != nil
	return nil
}

// UserByBitrixID finds the user mapped to Bitrix24 user id bitrixUserID on the portal memberID.
// The index is only a hint: the user record is checked, and a missing or stale index entry falls
// back to a scan, so a crash between writing a user and its index never hides a user.
func (s *Service) UserByBitrixID(ctx context.Context, memberID string, bitrixUserID int) (*User, error) {
	u, err := s.bitrixOwner(ctx, memberID, bitrixUserID)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, fmt.Errorf("Bitrix24 user %d on portal %s: %w; map the user with `signet admin user add --bitrix %s=%d LOGIN`",
			bitrixUserID, memberID, ErrUserNotFound, memberID, bitrixUserID)
	}
	// The record was just read (and checked against the index): every robot call comes this way, so
	// it is not read a second time.
	if err := s.fillEnrolled(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// bitrixOwner returns the user holding (memberID, id), or nil.
func (s *Service) bitrixOwner(ctx context.Context, memberID string, id int) (*User, error) {
	b, _, err := getRev(ctx, s.users, bitrixKey(memberID, id))
	if err != nil {
		return nil, fmt.Errorf("looking up Bitrix24 user %d on portal %s: %w", id, memberID, err)
	}
	if b != nil {
		u, _, err := s.getUser(ctx, string(b))
		if err == nil && u.BitrixIDs[memberID] == id {
			return u, nil
		}
		if err != nil && !errors.Is(err, ErrUserNotFound) {
			return nil, err
		}
	}
	users, err := s.listUsers(ctx)
	if err != nil {
		return nil, err
	}
	for i := range users {
		if users[i].BitrixIDs[memberID] == id {
			return &users[i], nil
		}
	}
	return nil, nil
}

func (s *Service) checkBitrixFree(ctx context.Context, login string, ids map[string]int) error {
	for m, id := range ids {
		owner, err := s.bitrixOwner(ctx, m, id)
		if err != nil {
			return err
		}
		if owner != nil && loginKey(owner.Login) != loginKey(login) {
			return fmt.Errorf("user %q: Bitrix24 user %d on portal %s belongs to %q; remove it there first: %w", login, id, m, owner.Login, ErrBitrixIDTaken)
		}
	}
	return nil
}

// indexBitrix writes index entries for the new mappings and removes those of dropped ones.
func (s *Service) indexBitrix(ctx context.Context, login string, old, cur map[string]int) error {
	for m, id := range old {
		if cur[m] == id {
			continue
		}
		k := bitrixKey(m, id)
		if b, _, err := getRev(ctx, s.users, k); err == nil && b != nil && loginKey(string(b)) == loginKey(login) {
			if err := s.users.Delete(ctx, k); err != nil {
				return fmt.Errorf("user %q: removing Bitrix24 index %s/%d: %w", login, m, id, err)
			}
		}
	}
	for m, id := range cur {
		if _, err := s.users.Put(ctx, bitrixKey(m, id), []byte(login)); err != nil {
			return fmt.Errorf("user %q: writing Bitrix24 index %s/%d: %w", login, m, id, err)
		}
	}
	return nil
}

// ListUsers returns all users sorted by login.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	users, err := s.listUsers(ctx)
	if err != nil {
		return nil, err
	}
	for i := range users {
		if err := s.fillEnrolled(ctx, &users[i]); err != nil {
			return nil, err
		}
	}
	return users, nil
}

func (s *Service) listUsers(ctx context.Context) ([]User, error) {
	keys, err := listKeys(ctx, s.users, "user.>")
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	var users []User
	for _, k := range keys {
		b, _, err := getRev(ctx, s.users, k)
		if err != nil {
			return nil, fmt.Errorf("listing users: %w", err)
		}
		if b == nil {
			continue // deleted meanwhile
		}
		var u User
		if err := json.Unmarshal(b, &u); err != nil {
			return nil, fmt.Errorf("listing users: damaged record %s: %w", k, err)
		}
		users = append(users, u)
	}
	sort.Slice(users, func(i, j int) bool { return strings.ToLower(users[i].Login) < strings.ToLower(users[j].Login) })
	return users, nil
}

// UpdateUser applies fn to the user atomically (Update on the revision read, retried on conflict;
// fn may run more than once). The login and creation time cannot be changed.
func (s *Service) UpdateUser(ctx context.Context, login string, fn func(*User) error) (*User, error) {
	for range casRetries {
		u, rev, err := s.getUser(ctx, login)
		if err != nil {
			return nil, err
		}
		old := maps.Clone(u.BitrixIDs)
		nu := *u
		nu.BitrixIDs = maps.Clone(u.BitrixIDs)
		if err := fn(&nu); err != nil {
			return nil, fmt.Errorf("updating user %q: %w", u.Login, err)
		}
		if loginKey(nu.Login) != loginKey(u.Login) {
			return nil, fmt.Errorf("updating user %q: a login cannot be renamed (to %q); add a new user and delete this one: %w", u.Login, nu.Login, ErrInvalidLogin)
		}
		if err := validateBitrixIDs(u.Login, nu.BitrixIDs); err != nil {
			return nil, err
		}
		if err := s.checkBitrixFree(ctx, u.Login, nu.BitrixIDs); err != nil {
			return nil, err
		}
		nu.Login, nu.Created, nu.Updated, nu.Enrolled = u.Login, u.Created, s.now().UTC(), false
		b, err := json.Marshal(nu)
		if err != nil {
			return nil, fmt.Errorf("updating user %q: %w", u.Login, err)
		}
		if _, err := s.users.Update(ctx, userKey(login), b, rev); err != nil {
			if isConflict(err) {
				continue
			}
			return nil, fmt.Errorf("updating user %q: %w", u.Login, err)
		}
		if err := s.indexBitrix(ctx, u.Login, old, nu.BitrixIDs); err != nil {
			return nil, err
		}
		if err := s.fillEnrolled(ctx, &nu); err != nil {
			return nil, err
		}
		s.log.Info("user updated", zapLogin(u.Login), zapBool("disabled", nu.Disabled), zapBool("otp_disabled", nu.OTPDisabled))
		return &nu, nil
	}
	return nil, fmt.Errorf("updating user %q: %w; try again", login, ErrBusy)
}

// DeleteUser removes the user, its Bitrix24 index entries and its OTP secret (purged, so no
// ciphertext stays in the bucket history). Grants of a deleted user stop working at once because
// Authorize checks the user first.
func (s *Service) DeleteUser(ctx context.Context, login string) error {
	u, _, err := s.getUser(ctx, login)
	if err != nil {
		return err
	}
	if err := s.users.Delete(ctx, userKey(login)); err != nil {
		return fmt.Errorf("deleting user %q: %w", u.Login, err)
	}
	if err := s.indexBitrix(ctx, u.Login, u.BitrixIDs, nil); err != nil {
		return err
	}
	if err := s.otp.Purge(ctx, loginKey(login)); err != nil {
		return fmt.Errorf("deleting OTP secret of %q: %w", u.Login, err)
	}
	s.log.Info("user deleted", zapLogin(u.Login))
	return nil
}

// SetDisabled, SetOTPDisabled: the admin switches, as named operations for the CLI and HTTP API.

// SetDisabled disables or enables a user; a disabled user cannot sign, enrol or use grants.
func (s *Service) SetDisabled(ctx context.Context, login string, disabled bool) (*User, error) {
	return s.UpdateUser(ctx, login, func(u *User) error { u.Disabled = disabled; return nil })
}

// SetOTPDisabled switches the OTP requirement off (true) or on (false) for a user.
func (s *Service) SetOTPDisabled(ctx context.Context, login string, off bool) (*User, error) {
	return s.UpdateUser(ctx, login, func(u *User) error { u.OTPDisabled = off; return nil })
}

// SetSelfEnrol allows (true) or forbids the user to enrol their authenticator inside Bitrix24.
func (s *Service) SetSelfEnrol(ctx context.Context, login string, allowed bool) (*User, error) {
	return s.UpdateUser(ctx, login, func(u *User) error { u.SelfEnrol = allowed; return nil })
}
