package testenv

import (
	"bufio"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// The README is short and sends each reader to a page of docs/ (issue 16, must 5); a link that points
// nowhere, or at a heading that was renamed or moved, sends them nowhere. This test reads every
// Markdown file (README*.md, docs/**/*.md and the rest) and follows each relative link: the file (or
// folder) must exist, and an anchor must name a heading of the target by GitHub's rules.

var (
	// inlineLink matches [text](target) and ![alt](target), with an optional "title".
	inlineLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	// refLink matches a reference definition: [name]: target.
	refLink = regexp.MustCompile(`^\s*\[[^\]]+\]:\s+(\S+)`)
	// codeSpan is inline code, whose brackets are not links.
	codeSpan = regexp.MustCompile("`[^`]*`")
	// heading is an ATX heading; its closing #s are not part of the text.
	heading = regexp.MustCompile(`^#{1,6}\s+(.*?)(?:\s+#+)?\s*$`)
	// htmlAnchor is an explicit <a id="…"> or <a name="…">.
	htmlAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	// mdLink inside a heading renders as its text.
	mdLink = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// slug is GitHub's anchor for a heading's text (github-slugger, which github.com follows): lower case,
// every character but letters, marks, digits, '_', '-' and spaces dropped, each space a hyphen. Inline
// markup goes with the punctuation (` and * are dropped) and a link counts as its text.
func slug(text string) string {
	text = mdLink.ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case unicode.IsLetter(r), unicode.IsMark(r), unicode.IsNumber(r), r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// mdFile is what the test needs of one Markdown file: its anchors and its links, outside code.
type mdFile struct {
	anchors map[string]bool
	links   []mdLinkAt
}

type mdLinkAt struct {
	line   int
	target string
}

func readMarkdown(t *testing.T, path string) mdFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	md := mdFile{anchors: map[string]bool{}}
	seen := map[string]int{} // GitHub numbers repeated slugs: x, x-1, x-2
	fence := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		trimmed := strings.TrimSpace(l)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(l, -1) {
			md.anchors[m[1]] = true
		}
		if m := heading.FindStringSubmatch(l); m != nil {
			s := slug(m[1])
			if k := seen[s]; k > 0 {
				md.anchors[fmt.Sprintf("%s-%d", s, k)] = true
			} else {
				md.anchors[s] = true
			}
			seen[s]++
		}
		l = codeSpan.ReplaceAllString(l, "")
		for _, m := range inlineLink.FindAllStringSubmatch(l, -1) {
			md.links = append(md.links, mdLinkAt{n, m[1]})
		}
		if m := refLink.FindStringSubmatch(l); m != nil {
			md.links = append(md.links, mdLinkAt{n, m[1]})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return md
}

// manual is every Markdown file of the module: the README*.md at the root, the pages under docs/ and
// any other (bench/RESULTS.md), skipping hidden folders and testdata.
func manual(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"README.md", "README.ru.md", "docs/admin.md"} {
		if !slices.Contains(files, filepath.Join(root, must)) {
			t.Fatalf("%s not found under %s: is the module root ../..?", must, root)
		}
	}
	return files
}

func TestEveryDocumentLinkResolves(t *testing.T) {
	files := manual(t)
	parsed := map[string]mdFile{}
	get := func(path string) mdFile {
		if md, ok := parsed[path]; ok {
			return md
		}
		md := readMarkdown(t, path)
		parsed[path] = md
		return md
	}
	checked := 0
	for _, file := range files {
		name, _ := filepath.Rel(root, file)
		for _, l := range get(file).links {
			target := l.target
			if u, err := url.Parse(target); err == nil && u.Scheme != "" {
				continue // a web address: not this tree's to check
			}
			checked++
			path, anchor, _ := strings.Cut(target, "#")
			if p, err := url.PathUnescape(path); err == nil {
				path = p
			}
			if a, err := url.PathUnescape(anchor); err == nil {
				anchor = a
			}
			dest := file
			if path != "" {
				if strings.HasPrefix(path, "/") {
					t.Errorf("%s:%d: link %q is absolute; write it relative to %s", name, l.line, target, filepath.Dir(name))
					continue
				}
				dest = filepath.Join(filepath.Dir(file), path)
				st, err := os.Stat(dest)
				if err != nil {
					t.Errorf("%s:%d: link %q points at %s, which does not exist", name, l.line, target, rel(dest))
					continue
				}
				if st.IsDir() || !strings.HasSuffix(dest, ".md") {
					if anchor != "" && st.IsDir() {
						t.Errorf("%s:%d: link %q has an anchor on a folder", name, l.line, target)
					}
					continue
				}
			}
			if anchor != "" && !get(dest).anchors[anchor] {
				t.Errorf("%s:%d: link %q: %s has no heading whose anchor is #%s", name, l.line, target, rel(dest), anchor)
			}
		}
	}
	t.Logf("%d files, %d relative links", len(files), checked)
	if checked < 50 {
		t.Errorf("only %d relative links found in %d files: is the parser still reading links?", checked, len(files))
	}
}

func rel(path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return r
}

// The slug rules, on headings this manual has (English, Russian, code, quotes and colons).
func TestSlugFollowsGitHub(t *testing.T) {
	for heading, want := range map[string]string{
		"Endpoints: who may call what":                    "endpoints-who-may-call-what",
		"Choosing `sync_interval`":                        "choosing-sync_interval",
		`The robot "Sign PDF"`:                            "the-robot-sign-pdf",
		"Модель безопасности":                             "модель-безопасности",
		"Bitrix24: install, robot, Sign button":           "bitrix24-install-robot-sign-button",
		"Keys, certificates and who may use them":         "keys-certificates-and-who-may-use-them",
		"Точки входа: кто что может вызвать":              "точки-входа-кто-что-может-вызвать",
		"What a job promises":                             "what-a-job-promises",
		"Streams, consumers and buckets":                  "streams-consumers-and-buckets",
		"Found after the twelve (follow-ups of issue 15)": "found-after-the-twelve-follow-ups-of-issue-15",
	} {
		if got := slug(heading); got != want {
			t.Errorf("slug(%q) = %q, want %q", heading, got, want)
		}
	}
}
