// lang.go: every page in its reader's language (issue 18, must 1–3). A page's words are catalogue
// messages (internal/i18n/locales, keys "web.<page>.…"), looked up by the template function T with
// the Localizer of the request; dates go through the Localizer too. Signet's own pages take the
// language from the `lang` cookie, else Accept-Language (i18n.FromRequest), and show a visible
// switch, GET /lang, that sets the cookie.

package web

import (
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/signet-b24/signet/internal/i18n"
)

// localizer is the Localizer of the reader of one of Signet's own pages.
func localizer(r *http.Request) *i18n.Localizer { return i18n.For(i18n.FromRequest(r)) }

// ZoneCookie holds the reader's IANA time zone, as the browser names it (signet.js sets it); the pages
// show times in it, and in UTC with the offset until it is known (issue 18, must 4).
const ZoneCookie = "tz"

// viewerZone is the zone of the tz cookie when it names an IANA zone, else UTC. The cookie changes
// nothing but how times are shown; a name Go does not know (or "Local") is ignored.
func viewerZone(r *http.Request) *time.Location {
	if c, err := r.Cookie(ZoneCookie); err == nil && c.Value != "" && len(c.Value) <= 64 {
		if name, err := url.QueryUnescape(c.Value); err == nil {
			if loc, err := i18n.LoadZone(name); err == nil {
				return loc
			}
		}
	}
	return time.UTC
}

// langFuncs are the template functions whose answer depends on the reader's language and zone. The
// parsed templates hold placeholders (baseLangFuncs); inLanguage swaps them in a clone per request, so
// one parse serves every language.
func langFuncs(l *i18n.Localizer, zone *time.Location) template.FuncMap {
	return template.FuncMap{
		"T":    l.T,
		"TH":   func(key string, args ...any) template.HTML { return markup(l, key, args...) },
		"lang": l.Code,
		// date is a moment as people read it, in the reader's time zone when the browser told it
		// (the tz cookie), else UTC, with the offset shown either way (issue 18, must 4).
		"date": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return l.DateTime(t.In(zone))
		},
		"day": func(t time.Time) string { return l.Date(t.In(zone)) },
	}
}

// markup is a message with markup in its arguments: the message's own text is escaped, an argument
// of type template.HTML goes in as it is (code, strong, a link made by the template), a string is
// escaped, and a number stays a number (a plural message chooses its form by it).
func markup(l *i18n.Localizer, key string, args ...any) template.HTML {
	marked := make([]any, len(args))
	var repl []string
	for i, a := range args {
		switch v := a.(type) {
		case template.HTML:
			m := "\x00" + strconv.Itoa(i) + "\x00"
			marked[i], repl = m, append(repl, template.HTMLEscapeString(m), string(v))
		case string:
			m := "\x00" + strconv.Itoa(i) + "\x00"
			marked[i], repl = m, append(repl, template.HTMLEscapeString(m), template.HTMLEscapeString(v))
		default:
			marked[i] = a
		}
	}
	out := template.HTMLEscapeString(l.T(key, marked...))
	return template.HTML(strings.NewReplacer(repl...).Replace(out))
}

// wrap is s escaped inside an element without attributes: {{TH "key" (wrap "code" .File)}}.
func wrap(tag, s string) template.HTML {
	return template.HTML("<" + tag + ">" + template.HTMLEscapeString(s) + "</" + tag + ">")
}

var baseLangFuncs = langFuncs(i18n.For(i18n.Fallback), time.UTC)

// inLanguage is t with the language functions of l and times in zone (nil: UTC). html/template may
// clone a template only before it is executed, so the parsed sets are never executed themselves.
func inLanguage(t *template.Template, l *i18n.Localizer, zone *time.Location) (*template.Template, error) {
	c, err := t.Clone()
	if err != nil {
		return nil, err
	}
	if zone == nil {
		zone = time.UTC
	}
	return c.Funcs(langFuncs(l, zone)), nil
}

// langLink is one entry of the visible language switch: EN | RU.
type langLink struct {
	Code, Lang, Name, Href string // Code as shown (EN), Lang the BCP 47 code (en)
	Current                bool
}

// langSwitch is the switch for a page at back (a local path the reader returns to).
func langSwitch(l *i18n.Localizer, back string) []langLink {
	var out []langLink
	for _, tag := range i18n.Languages() {
		o := i18n.For(tag)
		q := url.Values{"to": {o.Code()}, "back": {back}}
		out = append(out, langLink{Code: strings.ToUpper(o.Code()), Lang: o.Code(), Name: i18n.Name(tag), Href: "/lang?" + q.Encode(), Current: o.Code() == l.Code()})
	}
	return out
}

// backPath is where the switch returns a reader of r: the page itself when it was a GET; after a
// POST, the page the form was on, one level up (/admin/users/x/enable → /admin/users/x), except
// /verify, which is both.
func backPath(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.RequestURI()
	}
	if p := r.URL.EscapedPath(); p != "/verify" {
		return path.Dir(p)
	}
	return "/verify"
}

// localPath is back when it is a path on this site ("/verify?id=x"), else "/verify": the switch must
// not send a reader anywhere else (an open redirect would lend Signet's name to any site).
func localPath(back string) string {
	if back == "" || !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.ContainsAny(back, "\\\r\n\t") {
		return "/verify"
	}
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/verify"
	}
	return u.RequestURI()
}

// langCookieAge: the choice is remembered for a year.
const langCookieAge = 365 * 24 * 3600

// SetLanguage is GET /lang?to=ru&back=/verify: remember the reader's language in the `lang` cookie
// (read by i18n.FromRequest) and return to back, a local path. It changes nothing but the reader's
// own cookie, so it is a link that works without JavaScript and needs no CSRF token; SameSite=Lax
// and not HttpOnly: the choice is no secret.
func SetLanguage(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	var code string
	for _, tag := range i18n.Languages() {
		if c := i18n.For(tag).Code(); c == to {
			code = c
		}
	}
	if code == "" {
		http.Error(w, localizer(r).T("web.lang.unknown", strings.Join(i18n.Codes(), ", ")), http.StatusBadRequest)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: i18n.CookieName, Value: code, Path: "/", MaxAge: langCookieAge, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, localPath(r.URL.Query().Get("back")), http.StatusSeeOther)
}
