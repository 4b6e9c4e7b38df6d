package storage

import (
	"fmt"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxKeyLen is S3's limit on object key length in bytes.
const maxKeyLen = 1024

// ArtefactKeys builds the DESIGN.md layout signed/<portal>/<yyyy>/<mm>/<group>/<jobID>.{pdf,p7s,json}.
// Year and month are taken in UTC so every worker files a job under the same prefix whatever its time
// zone. Each part is reduced to [A-Za-z0-9._-] (others become '_', a leading '.' too), so a portal name
// or job id can never add path segments or escape the prefix.
func ArtefactKeys(portal string, t time.Time, group, jobID string) (pdf, p7s, report string) {
	u := t.UTC()
	base := path.Join("signed", segment(portal), fmt.Sprintf("%04d", u.Year()), fmt.Sprintf("%02d", int(u.Month())),
		segment(group), segment(jobID))
	return base + ".pdf", base + ".p7s", base + ".json"
}

func segment(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok || (i == 0 && c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

// ValidateKey rejects keys that could escape a local directory or mean different things to different
// backends: empty, longer than 1024 bytes, not UTF-8, starting with "/", containing "\", empty segments
// ("a//b", trailing "/"), "." or ".." segments, segments starting with "." (reserved for the local
// backend's own files) and control characters.
func ValidateKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > maxKeyLen:
		return bad("longer than 1024 bytes")
	case !utf8.ValidString(key):
		return bad("not valid UTF-8")
	case strings.HasPrefix(key, "/"):
		return bad("absolute path; keys are relative, like signed/<portal>/…")
	case strings.Contains(key, `\`):
		return bad(`contains "\"`)
	}
	for _, r := range key {
		if unicode.IsControl(r) {
			return bad("contains a control character")
		}
	}
	for _, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return bad("empty path segment")
		case seg == "." || seg == "..":
			return bad(`contains a "." or ".." segment`)
		case strings.HasPrefix(seg, "."):
			return bad(`segment starts with "." (reserved)`)
		}
	}
	return nil
}
