package portals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The portals allowed to install Signet are kept beside the installed ones, in one record of the same
// bucket, so that a portal added or removed at run time (the admin API, `signet admin bitrix24 add`)
// counts on every intake at once, without a restart (issue 21 must 4). bitrix24.portals is the initial
// set: each intake adds its entries at start (AllowDomains), so the setting keeps working as before.
//
// The key is not of the "m.<member_id>" form, so List and ByDomain pass it by.
const allowedKey = "allowed"

// ErrNotAllowed: the domain is not among the allowed portals.
var ErrNotAllowed = errors.New("portal domain not allowed")

// NormalizeDomain checks an entry of the allowed portals and returns its canonical form: a host
// ("acme.bitrix24.ru": reached over https) or, written out, "http://host:port" for an on-premise portal
// without TLS (plain http is never assumed). Anything with a path, query, user or wildcard is refused.
func NormalizeDomain(entry string) (string, error) {
	e := strings.TrimSpace(entry)
	bad := fmt.Errorf("%q is not a portal domain: give a host (acme.bitrix24.ru) or http://host:port for a portal without TLS", entry)
	if e == "" || len(e) > 253+16 || strings.ContainsAny(e, " \t*?#@\\") {
		return "", bad
	}
	if strings.Contains(e, "://") {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			return "", bad
		}
		if u.Scheme == "https" {
			return strings.ToLower(u.Host), nil
		}
		return "http://" + strings.ToLower(u.Host), nil
	}
	if strings.Contains(e, "/") {
		return "", bad
	}
	return strings.ToLower(e), nil
}

// DomainHost is the host (with port) an allowed entry names.
func DomainHost(entry string) string {
	if h, ok := strings.CutPrefix(entry, "http://"); ok {
		return h
	}
	return entry
}

// AllowedDomains returns the allowed portals' entries, sorted.
func (r *Registry) AllowedDomains(ctx context.Context) ([]string, error) {
	out, _, err := r.allowed(ctx)
	return out, err
}

func (r *Registry) allowed(ctx context.Context) ([]string, uint64, error) {
	e, err := r.kv.Get(ctx, allowedKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading the allowed portals: %w", err)
	}
	var out []string
	if err := json.Unmarshal(e.Value(), &out); err != nil {
		return nil, 0, fmt.Errorf("the allowed portals record is damaged (%w); add the portals again with `signet admin bitrix24 add`", err)
	}
	return out, e.Revision(), nil
}

// changeAllowed applies f to the entries and writes them back on the revision read (another intake's
// change at the same moment is read again and kept).
func (r *Registry) changeAllowed(ctx context.Context, f func([]string) []string) error {
	for attempt := range 20 {
		if attempt > 0 {
			// A replicated bucket may answer the read from a replica that has not yet seen the other
			// writer's revision: wait a little longer each time rather than spin on the same answer.
			select {
			case <-ctx.Done():
				return fmt.Errorf("the allowed portals: %w", ctx.Err())
			case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
			}
		}
		cur, rev, err := r.allowed(ctx)
		if err != nil {
			return err
		}
		next := f(slices.Clone(cur))
		slices.Sort(next)
		next = slices.Compact(next)
		if slices.Equal(next, cur) {
			return nil
		}
		data, _ := json.Marshal(next)
		if rev == 0 {
			_, err = r.kv.Create(ctx, allowedKey, data)
		} else {
			_, err = r.kv.Update(ctx, allowedKey, data, rev)
		}
		if changedMeanwhile(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("storing the allowed portals: %w", err)
		}
		return nil
	}
	return fmt.Errorf("the allowed portals: %w", ErrChanged)
}

// AllowDomains adds entries (NormalizeDomain) to the allowed portals; an entry already there is kept once.
func (r *Registry) AllowDomains(ctx context.Context, entries ...string) error {
	var add []string
	for _, e := range entries {
		if strings.TrimSpace(e) == "" {
			continue
		}
		n, err := NormalizeDomain(e)
		if err != nil {
			return err
		}
		add = append(add, n)
	}
	if len(add) == 0 {
		return nil
	}
	return r.changeAllowed(ctx, func(cur []string) []string {
		for _, n := range add {
			cur = slices.DeleteFunc(cur, func(c string) bool { return DomainHost(c) == DomainHost(n) })
			cur = append(cur, n)
		}
		return cur
	})
}

// RemoveDomain takes the portal at entry off the allowed portals and deletes the portal installed at
// that domain (its tokens), so that its robot calls and Sign dialogs are refused from now on, on
// every intake. It returns the member_id removed ("" when none was installed), or ErrNotAllowed.
func (r *Registry) RemoveDomain(ctx context.Context, entry string) (string, error) {
	n, err := NormalizeDomain(entry)
	if err != nil {
		return "", err
	}
	host := DomainHost(n)
	cur, _, err := r.allowed(ctx)
	if err != nil {
		return "", err
	}
	if !slices.ContainsFunc(cur, func(c string) bool { return DomainHost(c) == host }) {
		return "", fmt.Errorf("%w: %s", ErrNotAllowed, n)
	}
	if err := r.changeAllowed(ctx, func(cur []string) []string {
		return slices.DeleteFunc(cur, func(c string) bool { return DomainHost(c) == host })
	}); err != nil {
		return "", err
	}
	p, err := r.ByDomain(ctx, host)
	if errors.Is(err, ErrUnknownPortal) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return p.Auth.MemberID, r.Delete(ctx, p.Auth.MemberID)
}

// Allowed is an allowed portal and the member_id installed at its domain ("" when none is).
type Allowed struct {
	Domain   string `json:"domain"`
	MemberID string `json:"member_id,omitempty"`
}

// AllowedPortals lists the allowed portals with the portal installed at each.
func (r *Registry) AllowedPortals(ctx context.Context) ([]Allowed, error) {
	allowed, err := r.AllowedDomains(ctx)
	if err != nil {
		return nil, err
	}
	installed, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Allowed, 0, len(allowed))
	for _, d := range allowed {
		e := Allowed{Domain: d}
		for _, p := range installed {
			if strings.EqualFold(p.Auth.Domain, DomainHost(d)) {
				e.MemberID = p.Auth.MemberID
			}
		}
		out = append(out, e)
	}
	return out, nil
}
