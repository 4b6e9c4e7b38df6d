package identity

import (
	"context"
	"fmt"
	"strings"
)

// publicURLKey holds, in the users bucket (no TTL), the public_url of the server that answers
// enrolment links: `signet admin user enrol --data-dir D` runs beside a server it only reaches through
// NATS, without that server's flags, and must print a link the server answers (issue 19).
const publicURLKey = "srv.public_url"

// AnnouncePublicURL records this service's PublicURL as the one enrolment links are served at. The
// intake calls it at start.
func (s *Service) AnnouncePublicURL(ctx context.Context) error {
	if _, err := s.users.Put(ctx, publicURLKey, []byte(s.cfg.PublicURL)); err != nil {
		return fmt.Errorf("recording public_url %s: %w", s.cfg.PublicURL, err)
	}
	return nil
}

// UseAnnouncedPublicURL makes the links this service prints use the public_url the running server
// announced, and returns it; "" when no server has announced one (then the configured one stays).
func (s *Service) UseAnnouncedPublicURL(ctx context.Context) (string, error) {
	b, _, err := getRev(ctx, s.users, publicURLKey)
	if err != nil {
		return "", fmt.Errorf("reading the server's public_url: %w", err)
	}
	u := strings.TrimRight(strings.TrimSpace(string(b)), "/")
	if u == "" {
		return "", nil
	}
	s.cfg.PublicURL = u
	return u, nil
}
