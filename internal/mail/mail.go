// Package mail sends Signet's e-mail (enrolment links, issue 19 must 5) through the SMTP server of the
// mail.* settings: net/smtp with STARTTLS (the default, RFC 3207), implicit TLS (RFC 8314 §3, port 465)
// or, for a server on the same host only, none. The password comes from a credentials file, never a
// setting, a log line or an error.
package mail

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strings"
	"time"
)

// TLS modes of mail.tls.
const (
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
	TLSNone     = "none"
)

// Config is the mail.* settings.
type Config struct {
	SMTPHost        string // host:port
	From            string // the sender address, "Signet <signet@example.com>"
	TLS             string // starttls (default), tls or none
	CredentialsFile string // SIGNET_MAIL_USER=… and SIGNET_MAIL_PASSWORD=… lines; empty: no authentication
}

// Sender sends e-mail; a nil *Sender is "mail is not configured".
type Sender struct {
	cfg        Config
	from       *mail.Address
	user, pass string
	tlsConfig  *tls.Config
}

// New checks cfg and reads the credentials file.
func New(cfg Config) (*Sender, error) {
	if cfg.SMTPHost == "" {
		return nil, errors.New("mail.smtp_host is empty: set it to the SMTP server's host:port")
	}
	host, _, err := net.SplitHostPort(cfg.SMTPHost)
	if err != nil {
		return nil, fmt.Errorf("mail.smtp_host %q must be host:port (587 for STARTTLS, 465 for TLS): %w", cfg.SMTPHost, err)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail.from %q is not an e-mail address: %w", cfg.From, err)
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	switch cfg.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("mail.tls %q: use starttls, tls or none", cfg.TLS)
	}
	s := &Sender{cfg: cfg, from: from, tlsConfig: &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}}
	if cfg.CredentialsFile != "" {
		if s.user, s.pass, err = readCredentials(cfg.CredentialsFile); err != nil {
			return nil, err
		}
		if cfg.TLS == TLSNone && !isLoopback(host) {
			return nil, fmt.Errorf("mail.tls none with mail.credentials_file would send the password in clear to %s; use starttls or tls", host)
		}
	}
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// readCredentials reads SIGNET_MAIL_USER=… and SIGNET_MAIL_PASSWORD=… lines.
func readCredentials(path string) (string, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("mail.credentials_file: %w", err)
	}
	defer f.Close()
	var user, pass string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		switch {
		case !ok:
		case k == "SIGNET_MAIL_USER":
			user = v
		case k == "SIGNET_MAIL_PASSWORD":
			pass = v
		}
	}
	if user == "" || pass == "" {
		return "", "", fmt.Errorf("mail.credentials_file %s needs SIGNET_MAIL_USER=… and SIGNET_MAIL_PASSWORD=… lines", path)
	}
	return user, pass, nil
}

// Send sends a plain-text message to one address. The subject is MIME-encoded (RFC 2047), the body
// UTF-8 quoted-printable-free 8bit text, which every current server accepts (RFC 6152).
func (s *Sender) Send(ctx context.Context, to, subject, body string) error {
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return fmt.Errorf("%q is not an e-mail address: %w", to, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dialer := &net.Dialer{Deadline: deadline}
	var conn net.Conn
	if s.cfg.TLS == TLSImplicit {
		conn, err = tls.DialWithDialer(dialer, "tcp", s.cfg.SMTPHost, s.tlsConfig)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", s.cfg.SMTPHost)
	}
	if err != nil {
		return fmt.Errorf("connecting to the SMTP server %s: %w; check mail.smtp_host", s.cfg.SMTPHost, err)
	}
	_ = conn.SetDeadline(deadline)
	host, _, _ := net.SplitHostPort(s.cfg.SMTPHost)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("SMTP server %s: %w", s.cfg.SMTPHost, err)
	}
	defer c.Close()
	if s.cfg.TLS == TLSStartTLS {
		if err := c.StartTLS(s.tlsConfig); err != nil {
			return fmt.Errorf("SMTP server %s: STARTTLS: %w; check mail.tls", s.cfg.SMTPHost, err)
		}
	}
	if s.user != "" {
		if err := c.Auth(smtp.PlainAuth("", s.user, s.pass, host)); err != nil {
			return fmt.Errorf("SMTP server %s refused the credentials of mail.credentials_file (%s)", s.cfg.SMTPHost, scrub(err.Error(), s.pass))
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("SMTP server %s refused the sender %s: %w; check mail.from", s.cfg.SMTPHost, s.from.Address, err)
	}
	if err := c.Rcpt(rcpt.Address); err != nil {
		return fmt.Errorf("SMTP server %s refused the recipient %s: %w", s.cfg.SMTPHost, rcpt.Address, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("SMTP server %s: %w", s.cfg.SMTPHost, err)
	}
	msg := "From: " + s.from.String() + "\r\nTo: " + rcpt.String() + "\r\nSubject: " + mime.QEncoding.Encode("utf-8", subject) +
		"\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
		strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n") + "\r\n"
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("SMTP server %s: %w", s.cfg.SMTPHost, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("SMTP server %s did not accept the message: %w", s.cfg.SMTPHost, err)
	}
	return c.Quit()
}

func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "…")
}
