package external

import (
	"context"
	"fmt"
	"time"

	"github.com/signet-b24/signet/internal/i18n"
)

// The messages of the two channels, in the invitation's language (external.* keys of the catalogue).
// The link and the code appear in the message body only: never in a subject (mail gateways log
// subjects), a log line or an error.

func (s *Service) localizer(inv *Invitation) *i18n.Localizer {
	return i18n.New(inv.Language)
}

// sendLink sends the invitation's link; a reminder says so in its subject.
func (s *Service) sendLink(ctx context.Context, inv *Invitation, link string, reminder bool) error {
	l := s.localizer(inv)
	subject := l.T("external.mail.invite.subject")
	if reminder {
		subject = l.T("external.mail.remind.subject")
	}
	switch inv.Channel {
	case ChannelEmail:
		body := l.T("external.mail.invite", inv.Name, docName(l, inv), link, l.DateTime(inLocal(inv, inv.Expires)))
		if err := s.Mail.Send(ctx, inv.Email, subject, body); err != nil {
			return fmt.Errorf("the invitation to %s was not sent: %w", inv.Email, err)
		}
	case ChannelSMS:
		if err := s.SMS.Send(ctx, inv.Phone, l.T("external.sms.invite", link)); err != nil {
			return fmt.Errorf("the invitation to %s was not sent (%s): %w", inv.Phone, s.SMS.Name(), err)
		}
	}
	return nil
}

func (s *Service) sendCode(ctx context.Context, inv *Invitation, code string) error {
	l := s.localizer(inv)
	switch inv.Channel {
	case ChannelEmail:
		if err := s.Mail.Send(ctx, inv.Email, l.T("external.mail.code.subject"), l.T("external.mail.code", code, docName(l, inv))); err != nil {
			return fmt.Errorf("the code was not sent to %s: %w", inv.Email, err)
		}
	case ChannelSMS:
		if err := s.SMS.Send(ctx, inv.Phone, l.T("external.sms.code", code)); err != nil {
			return fmt.Errorf("the code was not sent to %s: %w", inv.Phone, err)
		}
	}
	return nil
}

func docName(l *i18n.Localizer, inv *Invitation) string {
	if inv.FileName != "" {
		return inv.FileName
	}
	return l.T("external.document")
}

// inLocal is t in the invitation's time zone (UTC when it names none this host knows).
func inLocal(inv *Invitation, t time.Time) time.Time {
	if z, err := i18n.LoadZone(inv.TimeZone); err == nil && z != nil {
		return t.In(z)
	}
	return t.UTC()
}
