package emulator

import "strconv"

// userGet is user.get as the reference documents it (bitrix24-people-notes.md §2): scope user_brief,
// FILTER on the user's fields (here ID, the one Signet uses), a page of at most 50 users. A
// user_brief answer has the names and TIME_ZONE, and never EMAIL; TIME_ZONE is "" for a user who
// did not choose one (the portal's default then applies), which is what every user of the emulator
// has unless Config.TimeZones names one. No scope gives a user's interface language.
func (p *Portal) userGet(_ *callCtx, params map[string]any) (any, *apiError) {
	filter, _ := mustParam(params, "FILTER").(map[string]any)
	var ids []int
	if v, ok := param(filter, "ID"); ok {
		id, ok := toInt(v)
		if !ok || id <= 0 {
			return []any{}, nil // a filter no user matches
		}
		ids = []int{id}
	} else {
		ids = []int{AdminUserID} // the emulator's one real user; others exist only when named
	}
	out := make([]any, 0, len(ids))
	for _, id := range ids {
		name, last := "User", strconv.Itoa(id)
		for _, u := range p.cfg.Users { // an employee of Config.Users answers with their names (people.go)
			if u.ID == id {
				name, last = u.Name, u.LastName
			}
		}
		out = append(out, map[string]any{"ID": strconv.Itoa(id), "ACTIVE": true, "NAME": name, "LAST_NAME": last,
			"TIME_ZONE": p.cfg.TimeZones[id]})
	}
	return out, nil
}
