package emulator

import (
	"strings"

	"github.com/signet-b24/signet/bitrix24"
)

// localize picks the text a reader of language lang sees from a robot's NAME, DESCRIPTION or a
// property's Name/Description, as the core does (reference bitrix24-people-notes.md §4,
// RestActivityTable::getLocalization): language ids are upper-cased; the exact language, then for UA
// the RU text, then EN, then "*" (a plain string is stored as "*"); nothing found is an empty name.
func localize(v any, lang string) string {
	var m map[string]any
	switch t := v.(type) {
	case string:
		m = map[string]any{"*": t}
	case map[string]any:
		m = map[string]any{}
		for k, x := range t {
			m[strings.ToUpper(k)] = x
		}
	default:
		return ""
	}
	lang = strings.ToUpper(lang)
	order := []string{lang}
	if lang == "UA" {
		order = append(order, "RU")
	}
	for _, k := range append(order, "EN", "*") {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// RobotText is what a reader of language lang sees of a registered robot's field ("NAME",
// "DESCRIPTION"); "" when the robot or the text does not exist.
func (p *Portal) RobotText(code, field, lang string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.robots[code]
	if !ok {
		return ""
	}
	v, _ := param(r.fields, field)
	return localize(v, lang)
}

// RobotPropertyText is what a reader of language lang sees of attribute attr ("Name", "Description")
// of property key in group ("PROPERTIES" or "RETURN_PROPERTIES") of a registered robot.
func (p *Portal) RobotPropertyText(code, group, key, attr, lang string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.robots[code]
	if !ok {
		return ""
	}
	props, _ := r.fields[strings.ToUpper(group)].(map[string]any)
	prop, _ := props[key].(map[string]any)
	v, _ := param(prop, attr)
	return localize(v, lang)
}

// placementLangAll reads placement.bind's LANG_ALL {lang: {TITLE, DESCRIPTION, GROUP_NAME}}
// (reference §10): language id (upper-cased) → TITLE. Anything but that shape is a wrong argument.
func placementLangAll(params map[string]any) (map[string]string, *apiError) {
	v, ok := param(params, "LANG_ALL")
	if !ok {
		return nil, nil
	}
	bad := &apiError{status: 400, code: bitrix24.ErrCodeArgument, desc: "Wrong value", extra: map[string]any{"argument": "LANG_ALL"}}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, bad
	}
	out := map[string]string{}
	for lang, x := range m {
		fields, ok := x.(map[string]any)
		if !ok {
			return nil, bad
		}
		out[strings.ToUpper(lang)] = paramString(fields, "TITLE")
	}
	return out, nil
}

// PlacementTitle is the title a reader of language lang sees on the placement code bound to handler:
// LANG_ALL's TITLE of that language, else TITLE (reference §10); "" when no such binding exists.
func (p *Portal) PlacementTitle(code, handler, lang string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pl := range p.placements {
		if pl.code == code && pl.handler == handler {
			if t := pl.langAll[strings.ToUpper(lang)]; t != "" {
				return t
			}
			return pl.title
		}
	}
	return ""
}
