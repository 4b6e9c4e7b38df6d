package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/signet-b24/signet/internal/ops"
)

// chartSVG draws the series as an inline SVG line chart over [from, to]: polylines in the colours of
// their names, a y axis with the maximum, and a legend. Everything is computed here; the page loads nothing.
// zone is the times' offset as the reader's language writes it (i18n.Localizer.Zone).
func chartSVG(title string, series []ops.Series, colours map[string]string, from, to time.Time, zone string) template.HTML {
	const w, h, left, bottom, top = 640.0, 180.0, 48.0, 20.0, 22.0
	maxV := 0.0
	for _, s := range series {
		for _, p := range s.Points {
			maxV = math.Max(maxV, p.V)
		}
	}
	if maxV <= 0 {
		maxV = 1
	}
	span := to.Sub(from).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 { return left + (w-left-8)*t.Sub(from).Seconds()/span }
	y := func(v float64) float64 { return top + (h-top-bottom)*(1-v/maxV) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`,
		w, h, w, h, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="#fafafa" stroke="#ccc"/>`, left, top, w-left-8, h-top-bottom)
	fmt.Fprintf(&b, `<text x="4" y="14" font-size="12" font-weight="bold">%s</text>`, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="10" text-anchor="end">%s</text>`, left-4, top+8, fmtNum(maxV))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="10" text-anchor="end">0</text>`, left-4, h-bottom)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="10">%s</text>`, left, h-6, from.UTC().Format("15:04"))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="10" text-anchor="end">%s %s</text>`, w-8, h-6, to.UTC().Format("15:04"), template.HTMLEscapeString(zone))
	lx := 200.0
	for _, s := range series {
		var pts []string
		for _, p := range s.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.T), y(p.V)))
		}
		if len(pts) == 1 {
			pts = append(pts, pts[0])
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, colours[s.Name], strings.Join(pts, " "))
		}
		fmt.Fprintf(&b, `<rect x="%.0f" y="6" width="10" height="10" fill="%s"/><text x="%.0f" y="15" font-size="11">%s</text>`,
			lx, colours[s.Name], lx+14, template.HTMLEscapeString(s.Name))
		lx += 14 + 7*float64(len(s.Name)) + 16
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text in it is escaped above
}

func fmtNum(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
