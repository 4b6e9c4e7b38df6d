package batch

import (
	"path/filepath"
	"testing"
)

// FuzzManifest feeds arbitrary bytes to the manifest parser (CSV and JSON lines): it must never
// panic, and whatever it accepts must be a valid batch: every document has exactly one source, a
// local path is absolute, page and position are among the known ones and the reason is bounded.
// Seeds: testdata/fuzz/FuzzManifest and the cases below.
func FuzzManifest(f *testing.F) {
	for _, s := range []struct{ in, ext string }{
		{"path,reason,visible,page,position\na.pdf,Approved,Y,last,bottom-right\n/abs/b.pdf,,N,,\n", ".csv"},
		{"portal,disk_file_id,deal\nm1,17,1188\n", ".csv"},
		{"{\"key\":\"incoming/x/1.pdf\",\"file_name\":\"x.pdf\"}\n\n# comment\n{\"path\":\"c.pdf\"}\n", ".jsonl"},
		{"{\"portal\":\"m1\",\"url\":\"https://acme.bitrix24.ru/x.pdf\",\"entity_type_id\":2,\"entity_id\":5}\n", ""},
		{"path,\"reason\"\n\"a,b.pdf\",\"multi\nline\"\n", ""},
	} {
		f.Add([]byte(s.in), s.ext)
	}
	f.Fuzz(func(t *testing.T, data []byte, ext string) {
		docs, err := ParseManifest(data, ext, "/m")
		if err != nil {
			return
		}
		if len(docs) == 0 {
			t.Fatal("accepted a manifest without documents")
		}
		for i, d := range docs {
			sources := 0
			if d.Path != "" {
				sources++
				if !filepath.IsAbs(d.Path) {
					t.Fatalf("document %d: path %q is not absolute", i, d.Path)
				}
			}
			if d.Key != "" {
				sources++
			}
			if d.Portal != "" {
				sources++
				if d.DiskFileID == 0 && d.URL == "" {
					t.Fatalf("document %d: portal without disk_file_id or url", i)
				}
			}
			if sources != 1 {
				t.Fatalf("document %d: %d sources accepted: %+v", i, sources, d)
			}
			if d.Page != "" && d.Page != "first" && d.Page != "last" {
				t.Fatalf("document %d: page %q accepted", i, d.Page)
			}
			if d.Position != "" && !positions[d.Position] {
				t.Fatalf("document %d: position %q accepted", i, d.Position)
			}
			if len(d.Reason) > 200 {
				t.Fatalf("document %d: a %d-byte reason accepted", i, len(d.Reason))
			}
		}
	})
}
