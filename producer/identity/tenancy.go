package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Tenancy: which portal (member_id) an object belongs to, so that a portal administrator administers
// only their own portal. A Signet-wide (local) administrator sees everything; the rules here decide
// what a portal administrator sees.
//
//   - A user belongs to portal P when it has at least one Bitrix24 mapping and every mapping is on P.
//     A user with no mapping, or with mappings on several portals, belongs to no portal: only a
//     Signet-wide administrator manages it.
//   - A credential is Signet-wide unless it is assigned to a portal: by a Signet-wide administrator,
//     or automatically when a portal administrator creates it.
//   - A batch grant belongs to the portal of its user.

// Portal returns the member_id of the portal the user belongs to, or "" when it belongs to none.
func (u *User) Portal() string {
	owner := ""
	for m := range u.BitrixIDs {
		if owner != "" && owner != m {
			return ""
		}
		owner = m
	}
	return owner
}

// BelongsTo reports whether the user belongs to the portal memberID (see Portal).
func (u *User) BelongsTo(memberID string) bool {
	return memberID != "" && u.Portal() == memberID
}

// assignmentsKey holds the credential → portal assignments in the credentials bucket.
const assignmentsKey = "portals"

// CredentialAssignment says that a credential belongs to one portal.
type CredentialAssignment struct {
	Credential string `json:"credential"`
	MemberID   string `json:"member_id"`
}

type assignmentList struct {
	Assigned []CredentialAssignment `json:"assigned"`
	Updated  time.Time              `json:"updated"`
}

func (s *Service) readAssignments(ctx context.Context) (assignmentList, uint64, error) {
	var l assignmentList
	e, err := s.creds.Get(ctx, assignmentsKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return l, 0, nil
	}
	if err != nil {
		return l, 0, fmt.Errorf("reading credential assignments: %w", err)
	}
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return l, 0, fmt.Errorf("reading credential assignments: damaged record: %w", err)
	}
	return l, e.Revision(), nil
}

// CredentialAssignments lists the credentials assigned to a portal; the others are Signet-wide.
func (s *Service) CredentialAssignments(ctx context.Context) ([]CredentialAssignment, error) {
	l, _, err := s.readAssignments(ctx)
	return l.Assigned, err
}

// CredentialPortal returns the member_id the credential is assigned to, "" when it is Signet-wide.
func (s *Service) CredentialPortal(ctx context.Context, credentialURI string) (string, error) {
	l, _, err := s.readAssignments(ctx)
	if err != nil {
		return "", err
	}
	return portalOf(l.Assigned, credentialURI), nil
}

func portalOf(list []CredentialAssignment, credentialURI string) string {
	for _, a := range list {
		if SameCredential(a.Credential, credentialURI) {
			return a.MemberID
		}
	}
	return ""
}

// AssignCredential assigns the credential to the portal memberID, or makes it Signet-wide again when
// memberID is "". Mappings that already exist stay: unmap them first if the credential moves.
func (s *Service) AssignCredential(ctx context.Context, credentialURI, memberID string) error {
	if _, err := credentialAttrs(credentialURI); err != nil {
		return err
	}
	memberID = strings.TrimSpace(memberID)
	if len(memberID) > 128 {
		return fmt.Errorf("assigning credential %s: member_id is longer than 128 characters: %w", credentialURI, ErrInvalidLogin)
	}
	for range casRetries {
		l, rev, err := s.readAssignments(ctx)
		if err != nil {
			return err
		}
		l.Assigned = slices.DeleteFunc(l.Assigned, func(a CredentialAssignment) bool { return SameCredential(a.Credential, credentialURI) })
		if memberID != "" {
			l.Assigned = append(l.Assigned, CredentialAssignment{Credential: credentialURI, MemberID: memberID})
		}
		l.Updated = s.now().UTC()
		b, _ := json.Marshal(l)
		if _, err = putRev(ctx, s.creds, assignmentsKey, b, rev); err == nil {
			s.log.Info("credential assigned", zap.String("credential", credentialURI), zap.String("member_id", memberID))
			return nil
		}
		if !isConflict(err) {
			return fmt.Errorf("assigning credential %s: %w", credentialURI, err)
		}
	}
	return fmt.Errorf("assigning credential %s: %w; try again", credentialURI, ErrBusy)
}
