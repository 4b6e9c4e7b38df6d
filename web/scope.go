package web

import (
	"context"
	"errors"
	"fmt"

	"github.com/signet-b24/signet/producer/identity"
)

// Tenancy of the control panel. A local administrator (a local password account) is Signet-wide and
// sees everything. A portal administrator's session carries the member_id of the portal that
// confirmed them, and everything they see or change is that portal's (the ownership rules are in
// producer/identity/tenancy.go):
//
//   - users: only those whose every Bitrix24 mapping is on the portal; new users must be mapped to a
//     user id on the portal, and mappings may name only the portal;
//   - credentials: only those assigned to the portal (those the portal's administrators created, or a
//     local administrator assigned); only those may be mapped, disabled, used to issue, or downloaded;
//     importing a certificate and assigning credentials are a local administrator's;
//   - batch grants: only those of the portal's users; portals: only their own.
//
// Another portal's object answers exactly as a missing one does (404 with the same text), so a portal
// administrator cannot even learn that it exists. The operator dashboard (/ops), the audit trail and
// the admin API are Signet-wide and not reachable with a portal administrator's session.

// wide reports a Signet-wide administrator.
func (s *session) wide() bool { return s.Kind == "local" }

// who names the administrator in the audit trail: "local" or "portal <member_id>".
func (s *session) who() string {
	if s.wide() {
		return s.Kind
	}
	return "portal " + s.MemberID
}

// mayUser reports whether the session administers u.
func (s *session) mayUser(u *identity.User) bool { return s.wide() || u.BelongsTo(s.MemberID) }

// mayPortal reports whether the session administers the portal memberID.
func (s *session) mayPortal(memberID string) bool { return s.wide() || memberID == s.MemberID }

// errNoUser is the one answer for a user that does not exist and one the session may not see.
func errNoUser(login string) error {
	return fmt.Errorf("there is no user %q: %w; check the login or add the user", login, identity.ErrUserNotFound)
}

// errNoCredential is the one answer for a credential that does not exist and one the session may not see.
func errNoCredential(uri string) error {
	return fmt.Errorf("there is no certificate %s here: %w", uri, errNotFound)
}

// errNoGrant is the one answer for a grant that does not exist and one the session may not see.
func errNoGrant(id string) error {
	return fmt.Errorf("there is no batch grant %s: %w", grantName(id), identity.ErrGrantNotFound)
}

var (
	errNotFound  = errors.New("not found")
	errForbidden = errors.New("only a Signet-wide (local) administrator may do this")
)

// scopedUser reads the user login as the session may see it.
func (p *Pages) scopedUser(ctx context.Context, s *session, login string) (*identity.User, error) {
	u, err := p.cfg.Identity.GetUser(ctx, login)
	if errors.Is(err, identity.ErrUserNotFound) || (err == nil && !s.mayUser(u)) {
		return nil, errNoUser(login)
	}
	return u, err
}

// scopedUpdate changes a user the session administers, checking the ownership again on the revision
// it changes (an administrator elsewhere may have re-mapped the user meanwhile).
func (p *Pages) scopedUpdate(ctx context.Context, s *session, login string, fn func(*identity.User) error) (*identity.User, error) {
	if _, err := p.scopedUser(ctx, s, login); err != nil {
		return nil, err
	}
	return p.cfg.Identity.UpdateUser(ctx, login, func(u *identity.User) error {
		if !s.mayUser(u) {
			return errNoUser(login)
		}
		if err := fn(u); err != nil {
			return err
		}
		// A portal administrator's change must leave the user theirs: linked to their portal only, and
		// still linked (a user without a link is a Signet-wide administrator's; delete it instead).
		if !s.wide() && !u.BelongsTo(s.MemberID) {
			return fmt.Errorf("user %q must stay linked to a Bitrix24 user of this portal, and to no other portal; to remove the user, delete it: %w", login, identity.ErrInvalidLogin)
		}
		return nil
	})
}

// mayCredential reports whether the session may see and use the credential uri.
func (p *Pages) mayCredential(ctx context.Context, s *session, uri string) (bool, error) {
	if s.wide() {
		return true, nil
	}
	m, err := p.cfg.Identity.CredentialPortal(ctx, uri)
	return err == nil && m == s.MemberID, err
}

// scopedUsers lists the users the session administers.
func (p *Pages) scopedUsers(ctx context.Context, s *session) ([]identity.User, error) {
	users, err := p.cfg.Identity.ListUsers(ctx)
	if err != nil || s.wide() {
		return users, err
	}
	out := users[:0]
	for _, u := range users {
		if s.mayUser(&u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// bitrixTaken words ErrBitrixIDTaken for a portal administrator without naming the other user, who
// may not be theirs.
func bitrixTaken(s *session, err error) error {
	if s.wide() || !errors.Is(err, identity.ErrBitrixIDTaken) {
		return err
	}
	return fmt.Errorf("that Bitrix24 user is already linked to another Signet user: %w", identity.ErrBitrixIDTaken)
}
