package identity

import (
	"context"
	"fmt"
	"time"
)

// SelfEnrolment is what the application's page inside Bitrix24 shows an employee who may enrol
// there (issue 19 must 5): the user, and — when an enrolment was started — the token of a link
// that follows exactly the rules of an administrator's link (one hour, single use, the newest one
// wins, the old secret keeps working until the first code is confirmed).
type SelfEnrolment struct {
	User    *User
	Token   string
	Expires time.Time
}

// StartSelfEnrolment recognises the employee (memberID, bitrixUserID) — the caller has learnt the
// id from the portal itself (user.current with the employee's own AUTH_ID), never from the request —
// and starts an enrolment when an administrator has allowed it (User.SelfEnrol).
//
// An employee who already has an authenticator gets ErrAlreadyEnrolled and no new link: replacing a
// second factor needs more than the portal session that is the first one, so a lost phone still
// goes through an administrator's link.
func (s *Service) StartSelfEnrolment(ctx context.Context, memberID string, bitrixUserID int) (*SelfEnrolment, error) {
	u, err := s.UserByBitrixID(ctx, memberID, bitrixUserID)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return &SelfEnrolment{User: u}, fmt.Errorf("enrolment for %q refused: %w; ask the administrator to enable the account", u.Login, ErrUserDisabled)
	}
	if !u.SelfEnrol {
		return &SelfEnrolment{User: u}, fmt.Errorf("enrolment for %q inside Bitrix24: %w; ask the administrator to allow it or to send an enrolment link", u.Login, ErrSelfEnrolForbidden)
	}
	if u.Enrolled {
		return &SelfEnrolment{User: u}, fmt.Errorf("enrolment for %q inside Bitrix24: %w; to move to another phone ask the administrator for an enrolment link", u.Login, ErrAlreadyEnrolled)
	}
	token, expires, err := s.startEnrolment(ctx, u)
	if err != nil {
		return nil, err
	}
	return &SelfEnrolment{User: u, Token: token, Expires: expires}, nil
}

// EnrolmentOnPortal reports whether the enrolment link token belongs to the user mapped to
// (memberID, bitrixUserID): the page inside Bitrix24 confirms a code only for its own employee.
func (s *Service) EnrolmentOnPortal(ctx context.Context, token, memberID string, bitrixUserID int) bool {
	login := s.EnrolmentLogin(ctx, token)
	if login == "" {
		return false
	}
	u, _, err := s.getUser(ctx, login)
	return err == nil && u.BitrixIDs[memberID] == bitrixUserID && bitrixUserID > 0
}
