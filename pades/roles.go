package pades

// The structure of one revision of a document, as the modification analysis (diff.go) needs it:
// every page by position with the attributes it inherits (ISO 32000-1 §7.7.3.4), every form field
// by object number with its fully qualified name (§12.7.3.2), the signature fields (those reached
// through AcroForm /Fields and those only on a page's /Annots, as poppler 22.12's
// `pdfsig -add-signature` leaves them), and for each indirect object the roles it plays: page
// content, page resources, a signature's appearance, the DSS… A changed object is judged by its
// roles, so an update that replaces a content stream in place is seen even though no page
// dictionary changed.

import (
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// role is what an indirect object is used for in a revision.
type role uint8

const (
	roleCatalog role = iota + 1
	rolePageTree
	rolePage
	roleAnnots        // a page's /Annots array
	roleContent       // a page's content stream or array of streams
	roleResources     // page resources and everything they reach (fonts, images, forms)
	rolePageAttr      // anything else a page reaches (thumbnails, beads, structure)
	roleAnnot         // an annotation other than a signature widget, and what it reaches
	roleAcroForm      // the interactive form dictionary
	roleFields        // a /Fields or /Kids array
	roleField         // a form field that is not a signature field, or what it reaches
	roleFieldValue    // a non-signature field's /V or appearance: form filling
	roleFormResources // AcroForm /DR and /DA
	roleSigField      // a signature field (and its widget)
	roleSigValue      // a signature dictionary (/V of a signature field)
	roleSigAppearance // a signature widget's appearance streams and their resources
	roleDSS           // the document security store (ETSI EN 319 142-1 §5.4) and its streams
	roleMetadata      // the catalog's XMP metadata stream
	roleInfo          // the trailer's document information dictionary
	roleOther         // anything else the catalog reaches (outlines, names, actions…)
)

// use is one role of an object, with where it is used.
type use struct {
	role   role
	page   int    // 1-based page for the page roles
	field  string // fully qualified field name for the field roles
	key    string // the key it hangs under (catalog or page entry)
	signed bool   // signature roles: the field holds a signature in this revision
}

// field is one form field (or widget) dictionary of a revision.
type field struct {
	name string
	ft   string // own or inherited /FT
	dict types.Dict
}

// structure is what walk found in one revision.
type structure struct {
	uses   map[int][]use
	pages  []types.Dict // effective page dictionaries, inherited attributes included, by position
	pageNr []int        // object number of each page
	fields map[int]*field
	// sigFields are the signature fields holding a signature, in the order found (AcroForm first,
	// then page widgets not listed there); sigNrs their field object numbers, -1 when direct.
	sigFields []*field
	sigNrs    []int
	objects   int // objects visited, bounded by maxWalkObjects
}

// maxWalkObjects bounds the objects one walk visits; a document with more is refused by the
// reader's MaxObjects first, this only stops loops through direct objects.
const maxWalkObjects = 4 << 20

// inheritable page attributes (ISO 32000-1 Table 30).
var inheritable = []string{"Resources", "MediaBox", "CropBox", "Rotate"}

// walk reads the structure of d. full also records the roles of every object the catalog
// reaches (needed to judge later revisions); without it only pages, fields and signatures are read.
func (d *document) walk(full bool) *structure {
	s := &structure{uses: make(map[int][]use), fields: make(map[int]*field)}
	w := walker{d: d, s: s, full: full, seen: make(map[seenKey]bool)}
	if full {
		w.record(d.root, use{role: roleCatalog})
		if info, ok := d.trailer["Info"]; ok {
			w.mark(info, use{role: roleInfo}, 0)
		}
	}
	cat := d.catalog
	w.pageTree(cat["Pages"], types.Dict{}, 0)
	if acro := cat["AcroForm"]; acro != nil {
		w.acroForm(acro)
	}
	for i, pg := range s.pages {
		w.pageWidgets(i+1, pg)
	}
	if full {
		for k, v := range cat {
			switch k {
			case "Pages", "AcroForm", "Type":
			case "DSS":
				w.mark(v, use{role: roleDSS, key: k}, 0)
			case "Metadata":
				w.mark(v, use{role: roleMetadata, key: k}, 0)
			default:
				w.mark(v, use{role: roleOther, key: k}, 0)
			}
		}
	}
	return s
}

type seenKey struct {
	nr   int
	role role
}

type walker struct {
	d    *document
	s    *structure
	full bool
	seen map[seenKey]bool
	sigs map[int]bool // signature dictionaries already listed
}

// record notes a use of o when it is an indirect reference and reports whether this is the first
// time o is seen in this role (so its content still has to be walked).
func (w *walker) record(o types.Object, u use) bool {
	nr := refNumber(o)
	if nr < 0 {
		return true
	}
	k := seenKey{nr, u.role}
	if w.seen[k] {
		return false
	}
	w.seen[k] = true
	w.s.uses[nr] = append(w.s.uses[nr], u)
	return true
}

// refNumber is the object number of an indirect reference, -1 for a direct object.
func refNumber(o types.Object) int {
	switch r := o.(type) {
	case types.IndirectRef:
		return int(r.ObjectNumber)
	case *types.IndirectRef:
		if r != nil {
			return int(r.ObjectNumber)
		}
	}
	return -1
}

// mark gives o and everything it reaches the use u. Back references (/P, /Parent) are not
// followed, nor page objects reached through a destination: they have roles of their own.
func (w *walker) mark(o types.Object, u use, depth int) {
	if !w.full || depth > maxParseDepth || w.s.objects > maxWalkObjects || w.d.ctx.Err() != nil {
		return
	}
	if !w.record(o, u) {
		return
	}
	w.s.objects++
	switch v := w.d.deref(o).(type) {
	case types.Dict:
		if t := w.d.nameOf(v["Type"]); t == "Page" || t == "Pages" {
			return
		}
		for k, e := range v {
			if k != "P" && k != "Parent" {
				w.mark(e, u, depth+1)
			}
		}
	case types.StreamDict:
		for k, e := range v.Dict {
			if k != "P" && k != "Parent" {
				w.mark(e, u, depth+1)
			}
		}
	case types.Array:
		for _, e := range v {
			w.mark(e, u, depth+1)
		}
	}
}

// pageTree walks the page tree in order (ISO 32000-1 §7.7.3), carrying inherited attributes.
func (w *walker) pageTree(node types.Object, inh types.Dict, depth int) {
	if depth > 64 || w.d.ctx.Err() != nil {
		return
	}
	dict := w.d.dict(node)
	if dict == nil {
		return
	}
	kids := w.d.array(dict["Kids"])
	if w.d.nameOf(dict["Type"]) == "Page" || (kids == nil && depth > 0) {
		if !w.record(node, use{role: rolePage, page: len(w.s.pages) + 1}) {
			return // a page listed twice is read once
		}
		eff := types.Dict{}
		for k, v := range inh {
			eff[k] = v
		}
		for k, v := range dict {
			eff[k] = v
		}
		w.s.pages = append(w.s.pages, eff)
		w.s.pageNr = append(w.s.pageNr, refNumber(node))
		n := len(w.s.pages)
		for k, v := range eff {
			switch k {
			case "Parent", "Type", "Annots":
			case "Contents":
				w.mark(v, use{role: roleContent, page: n, key: k}, 0)
			case "Resources":
				w.mark(v, use{role: roleResources, page: n, key: k}, 0)
			default:
				w.mark(v, use{role: rolePageAttr, page: n, key: k}, 0)
			}
		}
		if a := eff["Annots"]; a != nil {
			w.record(a, use{role: roleAnnots, page: n})
		}
		return
	}
	if !w.record(node, use{role: rolePageTree}) {
		return
	}
	next := types.Dict{}
	for k, v := range inh {
		next[k] = v
	}
	for _, k := range inheritable {
		if v, ok := dict[k]; ok {
			next[k] = v
		}
	}
	for _, k := range kids {
		w.pageTree(k, next, depth+1)
	}
}

// acroForm walks the interactive form (ISO 32000-1 §12.7.2).
func (w *walker) acroForm(o types.Object) {
	w.record(o, use{role: roleAcroForm})
	acro := w.d.dict(o)
	if acro == nil {
		return
	}
	for k, v := range acro {
		switch k {
		case "Fields":
			w.fieldList(v, "", "", 0)
		case "DR", "DA":
			w.mark(v, use{role: roleFormResources, key: k}, 0)
		default:
			w.mark(v, use{role: roleOther, key: "AcroForm/" + k}, 0)
		}
	}
}

func (w *walker) fieldList(o types.Object, parent, ft string, depth int) {
	w.record(o, use{role: roleFields, field: parent})
	for _, f := range w.d.array(o) {
		if len(w.s.fields) >= maxFields {
			return
		}
		w.field(f, parent, ft, depth)
	}
}

// field walks one field and its kids; a field's fully qualified name joins the partial names of
// its ancestors with periods (ISO 32000-1 §12.7.3.2), and /FT is inherited.
func (w *walker) field(o types.Object, parent, ft string, depth int) {
	if depth > 16 || w.d.ctx.Err() != nil {
		return
	}
	fd := w.d.dict(o)
	if fd == nil {
		return
	}
	name := parent
	if t := w.d.text(fd["T"]); t != "" {
		if name != "" {
			name += "."
		}
		name += t
	}
	if t := fd.NameEntry("FT"); t != nil {
		ft = *t
	}
	f := &field{name: name, ft: ft, dict: fd}
	nr := refNumber(o)
	if nr >= 0 {
		if _, dup := w.s.fields[nr]; dup {
			return
		}
		w.s.fields[nr] = f
	}
	if ft == "Sig" {
		w.sigField(o, f, nr)
	} else {
		w.record(o, use{role: roleField, field: name})
		for k, v := range fd {
			switch k {
			case "P", "Parent", "Kids":
			case "V", "AP", "AS":
				w.mark(v, use{role: roleFieldValue, field: name, key: k}, 0)
			default:
				w.mark(v, use{role: roleField, field: name, key: k}, 0)
			}
		}
	}
	if kids := fd["Kids"]; kids != nil {
		w.fieldList(kids, name, ft, depth+1)
	}
}

// sigField records a signature field or widget: its signature dictionary and appearances.
func (w *walker) sigField(o types.Object, f *field, nr int) {
	signed := w.d.dict(f.dict["V"]) != nil || w.d.dict(w.inherited(f.dict, "V")) != nil
	w.record(o, use{role: roleSigField, field: f.name, signed: signed})
	if w.d.dict(f.dict["V"]) != nil {
		sigNr := refNumber(f.dict["V"])
		if w.sigs == nil {
			w.sigs = make(map[int]bool)
		}
		if sigNr < 0 || !w.sigs[sigNr] {
			if sigNr >= 0 {
				w.sigs[sigNr] = true
			}
			w.s.sigFields = append(w.s.sigFields, f)
			w.s.sigNrs = append(w.s.sigNrs, nr)
		}
	}
	for k, v := range f.dict {
		switch k {
		case "P", "Parent", "Kids":
		case "V":
			w.mark(v, use{role: roleSigValue, field: f.name, signed: signed}, 0)
		case "AP", "AS", "MK":
			w.mark(v, use{role: roleSigAppearance, field: f.name, signed: signed}, 0)
		default:
			w.mark(v, use{role: roleSigField, field: f.name, key: k, signed: signed}, 0)
		}
	}
}

// pageWidgets walks a page's annotations: signature widgets (also those whose field is missing
// from AcroForm /Fields) and any other annotation.
func (w *walker) pageWidgets(n int, pg types.Dict) {
	for _, a := range w.d.array(pg["Annots"]) {
		ad := w.d.dict(a)
		if ad == nil {
			continue
		}
		nr := refNumber(a)
		if f, ok := w.s.fields[nr]; ok && nr >= 0 {
			if f.ft != "Sig" {
				w.mark(a, use{role: roleField, field: f.name, page: n}, 0)
			}
			continue
		}
		if w.d.nameOf(ad["Subtype"]) == "Widget" {
			if name, ft := w.inheritedField(ad); ft == "Sig" {
				f := &field{name: name, ft: ft, dict: ad}
				if nr >= 0 {
					w.s.fields[nr] = f
				}
				w.sigField(a, f, nr)
				continue
			}
		}
		w.mark(a, use{role: roleAnnot, page: n}, 0)
	}
}

// inheritedField is the fully qualified name and /FT of a widget through its /Parent chain.
func (w *walker) inheritedField(ad types.Dict) (name, ft string) {
	var parts []string
	cur := ad
	for range 16 {
		if cur == nil {
			break
		}
		if t := w.d.text(cur["T"]); t != "" {
			parts = append([]string{t}, parts...)
		}
		if t := cur.NameEntry("FT"); t != nil && ft == "" {
			ft = *t
		}
		cur = w.d.dict(cur["Parent"])
	}
	return strings.Join(parts, "."), ft
}

// inherited is an entry of a field dictionary or of its nearest ancestor holding it.
func (w *walker) inherited(fd types.Dict, key string) types.Object {
	cur := fd
	for range 16 {
		if cur == nil {
			return nil
		}
		if v, ok := cur[key]; ok {
			return v
		}
		cur = w.d.dict(cur["Parent"])
	}
	return nil
}
