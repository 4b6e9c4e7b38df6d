package producer

import (
	"flag"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/language"

	"github.com/signet-b24/signet/internal/i18n"
)

var updatePicture = flag.Bool("update-picture", false, "rewrite docs/robot-settings*.svg from the robot's registration")

// The picture of the robot's settings in docs/bitrix24.md (issue 19, must 4) is drawn from the very
// fields Signet registers (RobotFields): a property renamed or described anew changes the picture,
// and this test fails until it is redrawn (go test ./producer -run RobotSettingsPicture -update-picture).
func TestRobotSettingsPicture(t *testing.T) {
	for file, tag := range map[string]language.Tag{"robot-settings.svg": language.English, "robot-settings.ru.svg": language.Russian} {
		got := robotSettingsSVG(RobotFields("https://signet.example.com/bitrix24/robot", 1, i18n.For(tag)), i18n.Bitrix24ID(tag))
		path := filepath.Join("..", "docs", file)
		if *updatePicture {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil || string(want) != got {
			t.Errorf("%s is not the robot's registration (%v); redraw it with -update-picture", path, err)
		}
	}
}

// propertyOrder is the order of the settings form: what to sign, who, how, then the stamp.
var propertyOrder = []string{PropDocument, PropSigner, PropCredential, PropMode, PropOTP, PropDeadline, PropVisible, PropPage, PropPosition, PropReason, PropEvidence}

// robotSettingsSVG draws the robot's settings form as the designer sees it in language lang: each
// property's name, its field (type, options or default) and its description.
func robotSettingsSVG(fields map[string]any, lang string) string {
	text := func(v any) string {
		if m, ok := v.(map[string]any); ok {
			s, _ := m[lang].(string)
			return s
		}
		s, _ := v.(string)
		return s
	}
	const width, left, lineH = 760, 24, 17
	var b strings.Builder
	var y int
	props := fields["PROPERTIES"].(map[string]any)
	var body strings.Builder
	y = 64
	for _, code := range propertyOrder {
		p := props[code].(map[string]any)
		name := text(p["Name"])
		if p["Required"] == "Y" {
			name += " *"
		}
		for i, line := range wrap(name, 80) {
			if i > 0 {
				y += lineH
			}
			fmt.Fprintf(&body, `<text x="%d" y="%d" class="name">%s</text>`+"\n", left, y, html.EscapeString(line))
		}
		y += 8
		// The field as the form shows it: a select or a yes/no box with its default chosen, a user
		// picker, or an empty text field.
		field := ""
		d, hasDefault := p["Default"]
		switch opts, _ := p["Options"].(map[string]any); {
		case opts != nil && hasDefault:
			field = fmt.Sprint(opts[fmt.Sprint(d)]) + "  ▾"
		case p["Type"] == "bool" && hasDefault:
			field = fmt.Sprint(d) + "  ▾"
		case p["Type"] == "user":
			field = "user_<ID>"
		}
		fmt.Fprintf(&body, `<rect x="%d" y="%d" width="%d" height="24" rx="4" class="field"/>`+"\n", left, y, width-2*left)
		fmt.Fprintf(&body, `<text x="%d" y="%d" class="value">%s</text>`+"\n", left+8, y+16, html.EscapeString(field))
		y += 24 + lineH
		for _, line := range wrap(text(p["Description"]), 100) {
			fmt.Fprintf(&body, `<text x="%d" y="%d" class="desc">%s</text>`+"\n", left, y, html.EscapeString(line))
			y += lineH - 2
		}
		y += 22
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Arial, Helvetica, sans-serif">`+"\n", width, y, width, y)
	b.WriteString(`<style>.title{font-size:20px;font-weight:bold;fill:#333}.name{font-size:14px;font-weight:bold;fill:#333}.value{font-size:13px;fill:#555}.desc{font-size:12px;fill:#80868e}.field{fill:#fff;stroke:#c6cdd3}</style>` + "\n")
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#f5f7f8"/>`+"\n", width, y)
	fmt.Fprintf(&b, `<text x="%d" y="36" class="title">%s</text>`+"\n", left, html.EscapeString(text(fields["NAME"])))
	b.WriteString(body.String())
	b.WriteString("</svg>\n")
	return b.String()
}

// wrap cuts s into lines of at most n characters at spaces.
func wrap(s string, n int) []string {
	var lines []string
	var cur []rune
	for _, w := range strings.Fields(s) {
		if len(cur) > 0 && len(cur)+1+len([]rune(w)) > n {
			lines = append(lines, string(cur))
			cur = nil
		}
		if len(cur) > 0 {
			cur = append(cur, ' ')
		}
		cur = append(cur, []rune(w)...)
	}
	if len(cur) > 0 {
		lines = append(lines, string(cur))
	}
	return lines
}
