package emulator

import "strings"

// imNotifySystemAdd and imNotifyPersonalAdd are im.notify.system.add and im.notify.personal.add
// (bitrix24-people-notes.md §1): the same parameters, USER_ID and MESSAGE (trimmed) required,
// MESSAGE_OUT, TAG (unique per app: a new notification with a tag removes the others with it),
// SUB_TAG; the result is the notification id. A personal one is sent on behalf of the token's user.
// Only an application may call them (session auth answers WRONG_AUTH_TYPE; the emulator has no
// session auth).
func (p *Portal) imNotifySystemAdd(c *callCtx, params map[string]any) (any, *apiError) {
	return p.imNotify(params, 0)
}

func (p *Portal) imNotifyPersonalAdd(c *callCtx, params map[string]any) (any, *apiError) {
	return p.imNotify(params, c.userID)
}

func (p *Portal) imNotify(params map[string]any, from int) (any, *apiError) {
	uid, ok := toInt(mustParam(params, "USER_ID"))
	if !ok || uid <= 0 {
		return nil, &apiError{status: 400, code: "USER_ID_EMPTY", desc: "Recipient ID can't be empty"}
	}
	msg := strings.TrimSpace(paramString(params, "MESSAGE"))
	if msg == "" {
		return nil, &apiError{status: 400, code: "MESSAGE_EMPTY", desc: "Message text can't be empty"}
	}
	n := Notification{ID: p.newIDLocked(), UserID: uid, Message: msg, Out: paramString(params, "MESSAGE_OUT"),
		Tag: paramString(params, "TAG"), From: from}
	if n.Tag != "" {
		kept := p.notifies[:0]
		for _, o := range p.notifies {
			if o.Tag != n.Tag {
				kept = append(kept, o)
			}
		}
		p.notifies = kept
	}
	p.notifies = append(p.notifies, n)
	return n.ID, nil
}
