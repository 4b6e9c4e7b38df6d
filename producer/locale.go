package producer

import (
	"context"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
)

// Every job carries the language and the time zone of what people will read about it: the stamp, the
// Document-ID stripe and the certificate of completion (issue 18, must 3 and 4; contracts.SignJob).
// The intake decides both, once, and the job's signature covers them.
//
// The language is the portal's recorded language (portals.Portal.Language) for a robot call, and the
// LANG of the Sign dialog's placement request (the interface language of the person who opened it)
// for a Sign-dialog job; English when neither is known.
//
// The zone is the signer's Bitrix24 TIME_ZONE, read with user.get when the application's scope allows
// it (user_brief; bitrix24-people-notes.md §2) and cached per portal and user. A user who never chose
// a zone has TIME_ZONE "" (the portal's default applies), and Bitrix24 names no portal zone through
// REST (server.time gives an offset, not a zone, and an offset is wrong half the year where clocks
// change): then signing.time_zone, UTC by default.

// zoneTTL is how long a signer's zone is remembered; zoneNegativeTTL how long an unanswered lookup is
// (a portal that is down or an application without user_brief is not asked on every call).
const (
	zoneTTL         = time.Hour
	zoneNegativeTTL = 5 * time.Minute
	zoneLookup      = 2 * time.Second // a robot call does not wait longer for a label's time zone
	zoneCacheMax    = 10000
)

type zoneEntry struct {
	zone    string // "" = not known: use signing.time_zone
	expires time.Time
}

// zoneCache remembers signers' zones by member_id and user id. It is bounded: when full, it starts
// again empty (every entry can be asked for again).
type zoneCache struct {
	mu sync.Mutex
	m  map[string]zoneEntry
}

func (c *zoneCache) get(key string, now time.Time) (zoneEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.After(e.expires) {
		return zoneEntry{}, false
	}
	return e, true
}

func (c *zoneCache) put(key string, e zoneEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= zoneCacheMax {
		c.m = map[string]zoneEntry{}
	}
	c.m[key] = e
}

// setLocale sets the job's language from a Bitrix24 language id and its zone from the signer's.
func (in *Intake) setLocale(ctx context.Context, job *contracts.SignJob, bitrixLang string) {
	job.Language = i18n.For(i18n.FromBitrix24(bitrixLang)).Code()
	job.TimeZone = in.signerZone(ctx, job.Portal.MemberID, job.Signer.BitrixUserID)
}

// signerZone is the signer's Bitrix24 TIME_ZONE when the portal gives it, else signing.time_zone.
func (in *Intake) signerZone(ctx context.Context, memberID string, uid int) string {
	fallback := in.TimeZone
	if fallback == "" {
		fallback = "UTC"
	}
	if in.Bitrix == nil || memberID == "" || uid <= 0 {
		return fallback
	}
	key := memberID + "|" + strconv.Itoa(uid)
	now := in.now()
	if e, ok := in.zones.get(key, now); ok {
		if e.zone == "" {
			return fallback
		}
		return e.zone
	}
	ctx, cancel := context.WithTimeout(ctx, zoneLookup)
	defer cancel()
	var users []struct {
		TimeZone string `json:"TIME_ZONE"`
	}
	if err := in.Bitrix.Call(ctx, memberID, "user.get", map[string]any{"FILTER": map[string]any{"ID": uid}}, &users); err != nil {
		in.Log.Info("the signer's time zone could not be read (user.get); the stamp uses signing.time_zone",
			zap.String("member_id", memberID), zap.Int("user_id", uid), zap.Error(err))
		in.zones.put(key, zoneEntry{expires: now.Add(zoneNegativeTTL)})
		return fallback
	}
	zone := ""
	if len(users) == 1 {
		zone = users[0].TimeZone
	}
	if _, err := i18n.LoadZone(zone); err != nil {
		in.Log.Info("the signer's Bitrix24 TIME_ZONE is not a zone Signet knows; the stamp uses signing.time_zone",
			zap.String("member_id", memberID), zap.Int("user_id", uid), zap.String("time_zone", zone))
		zone = ""
	}
	in.zones.put(key, zoneEntry{zone: zone, expires: now.Add(zoneTTL)})
	if zone == "" {
		return fallback
	}
	return zone
}
