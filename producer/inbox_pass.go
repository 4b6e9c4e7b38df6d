package producer

import (
	"crypto/hmac"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// InboxPassField carries an inbox pass in the form that opens the inbox from the application's own
// page (POST /admin/bitrix24, web/selfenrol.go). Bitrix24 sends that page no APPLICATION_TOKEN
// (bitrix24-people-notes.md §3), so the page, having asked the portal who is looking (user.current
// with their AUTH_ID), vouches for that portal and user with a pass signed by the form key; the inbox
// still proves the viewer from their own AUTH_ID and takes the pass only for that same user.
const InboxPassField = "SIGNET_INBOX_PASS"

// inboxPassTTL: as long as the AUTH_ID the page forwards lives (bitrix24-rest.md §9: 1 h).
const inboxPassTTL = time.Hour

func (in *Intake) inboxPassMAC(v string) string {
	return in.keyedMAC("signet-inbox-pass", v)
}

// InboxPass vouches that Bitrix24 user userID of portal memberID was proved by the portal just now;
// "" when the intake has no form key (the page then shows no link).
func (in *Intake) InboxPass(memberID string, userID int) string {
	if len(in.FormKey) < 16 || memberID == "" || userID <= 0 {
		return ""
	}
	v := memberID + "|" + strconv.Itoa(userID) + "|" + strconv.FormatInt(in.now().Add(inboxPassTTL).Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(v)) + "." + in.inboxPassMAC(v)
}

// inboxPassUser is the user a valid, unexpired pass for memberID vouches for.
func (in *Intake) inboxPassUser(memberID, pass string) (int, bool) {
	b64, mac, ok := strings.Cut(pass, ".")
	if !ok || len(pass) > 512 || len(in.FormKey) < 16 {
		return 0, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil || !hmac.Equal([]byte(in.inboxPassMAC(string(raw))), []byte(mac)) {
		return 0, false
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] != memberID {
		return 0, false
	}
	uid, err1 := strconv.Atoi(parts[1])
	exp, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || uid <= 0 || in.now().Unix() > exp {
		return 0, false
	}
	return uid, true
}
