package pades

// What the signatures of a revision permit later revisions to do (ISO 32000-1 §12.8.2): a
// certification signature's DocMDP level (§12.8.2.2: P=1 no changes, 2 form filling and signing,
// 3 also annotations) and the fields that signature fields lock (FieldMDP, §12.8.2.4; a signature
// field's /Lock, §12.7.4.5 Table 233). Without a certification, signing further fields and
// filling form fields is allowed; annotations are never allowed here, whatever P says, as in
// pyHanko (an annotation can draw anything over the signed page: the "Evil Annotation" attack).

import (
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// permissions are what a signed revision allows after it.
type permissions struct {
	docMDP int // 0: no certification; otherwise the certification's P
	locks  []fieldLock
}

// fieldLock is one FieldMDP restriction: Action All, Include or Exclude over Fields.
type fieldLock struct {
	by     string // the signature field that locks
	action string
	fields map[string]bool
}

func (l fieldLock) covers(name string) bool {
	switch l.action {
	case "All":
		return true
	case "Include":
		return l.fields[name]
	case "Exclude":
		return !l.fields[name]
	}
	return false
}

// permissions reads the DocMDP level and the locks of the signature fields signed in s.
func (d *document) permissions(s *structure) permissions {
	var p permissions
	if perms := d.dict(d.catalog["Perms"]); perms != nil {
		if sig := d.dict(perms["DocMDP"]); sig != nil {
			for _, r := range d.array(sig["Reference"]) {
				if ref := d.dict(r); ref != nil && d.nameOf(ref["TransformMethod"]) == "DocMDP" {
					p.docMDP = 2 // ISO 32000-1 Table 254: P defaults to 2
					if params := d.dict(ref["TransformParams"]); params != nil {
						if i, ok := d.deref(params["P"]).(types.Integer); ok && i >= 1 && i <= 3 {
							p.docMDP = int(i)
						}
					}
				}
			}
		}
	}
	for _, f := range s.sigFields {
		if l := d.dict(f.dict["Lock"]); l != nil {
			p.locks = append(p.locks, d.fieldLock(f.name, l))
		}
		sig := d.dict(f.dict["V"])
		for _, r := range d.array(sig["Reference"]) {
			if ref := d.dict(r); ref != nil && d.nameOf(ref["TransformMethod"]) == "FieldMDP" {
				if params := d.dict(ref["TransformParams"]); params != nil {
					p.locks = append(p.locks, d.fieldLock(f.name, params))
				}
			}
		}
	}
	return p
}

func (d *document) fieldLock(by string, l types.Dict) fieldLock {
	fl := fieldLock{by: by, action: d.nameOf(l["Action"]), fields: make(map[string]bool)}
	for _, f := range d.array(l["Fields"]) {
		fl.fields[d.text(f)] = true
	}
	return fl
}

// fill says whether form field name may change its value, and why not.
func (p permissions) fill(name string) (bool, Text) {
	if p.docMDP == 1 {
		return false, say("mdp.noChanges", "the certification (DocMDP P=1) allows no changes")
	}
	for _, l := range p.locks {
		if l.covers(name) {
			return false, say("mdp.locked", "signature field %[1]q locks it", l.by)
		}
	}
	return true, Text{}
}

// sign says whether signature field name may be signed (or added and signed); a document
// timestamp is allowed even under P=1 (ISO 32000-2 §12.8.2.2.2, as corrected: DSS and document
// timestamps are not changes).
func (p permissions) sign(name string, docTimestamp bool) (bool, Text) {
	if p.docMDP == 1 && !docTimestamp {
		return false, say("mdp.noSignatures", "the certification (DocMDP P=1) allows no further signatures")
	}
	for _, l := range p.locks {
		if name != "" && l.covers(name) {
			return false, say("mdp.locked", "signature field %[1]q locks it", l.by)
		}
	}
	return true, Text{}
}
