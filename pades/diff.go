package pades

// Modification analysis: what the revisions appended after a signature changed, each change
// allowed or not (ISO 32000-1 §12.8.2; the approach of pyHanko's difference analysis, whose rules
// are the anchor: every changed object must be explained by a rule, or the change is disallowed).
//
// The signed revision is the file cut at the end of the signature's ByteRange, read as a document
// of its own. An object is changed when the final cross-reference chain places it elsewhere than
// the signed revision did (an update that only re-points an object number at other bytes, even
// bytes inside the signed range, counts: the "hide-and-replace" shadow attack), when it lives in an
// object stream that was itself replaced, or when it was freed. Changed objects that parse to the
// same value are ignored. The rest are judged:
//   - structurally: the catalog key by key, every page by position with its inherited attributes,
//     the page's /Annots, the AcroForm and its /Fields, each existing field, the document
//     information (Signet's evidence keys may never change);
//   - by role (roles.go) for everything else: an object used as page content or resources, by an
//     annotation, a form field or the catalog is disallowed; one used only by a new signature, its
//     appearance, the DSS, XMP metadata or the form's default resources is allowed; an object no
//     revision references any more is ignored.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Change is one thing the revisions after a signature changed.
type Change struct {
	What     string `json:"what"`
	Allowed  bool   `json:"allowed"`
	Evidence bool   `json:"evidence,omitempty"` // it changes Signet's evidence facts (document information)
	// Metadata: it changes what the document says about itself (document information other than
	// the bookkeeping keys, XMP). Allowed only when a later intact signature covers it (analyseAll).
	Metadata bool `json:"metadata,omitempty"`
	// Text is What with its code, for the reader's language (text.go); What stays the English.
	Text Text `json:"-"`
}

// bookkeepingInfo are the document-information keys every PDF writer updates when it appends a
// revision (a DSS, a document timestamp): what they say is about the file, not about the document.
var bookkeepingInfo = map[string]bool{"ModDate": true, "Producer": true}

// evidencePrefix marks the document information keys of Signet's self-proving documents
// (worker/evidence): facts a verifier prints, so they may only come from signed revisions.
const evidencePrefix = "Signet"

// analysis compares the signed revision (old) with the final document (new).
type analysis struct {
	old, new *document
	os, ns   *structure
	perms    permissions
	handled  map[int]bool
	changes  []Change
	seen     map[string]int // What → index in changes
}

// revisionAnalysis is what analyse found for one signed revision.
type revisionAnalysis struct {
	changes []Change
	// sigs are the object numbers of the signature dictionaries the revision's fields hold: a
	// signature whose dictionary is not among them was put into the file by a later revision.
	sigs map[int]bool
}

// analyse reports what the revisions after the one ending at end changed. final is the final
// document's full structure (walk(true)). Errors are only the reader's limits and cancellation; a
// signed range that does not end at a revision's end is a disallowed change.
func (d *document) analyse(ctx context.Context, end int64, final *structure) (revisionAnalysis, error) {
	sd, err := readDocument(ctx, io.NewSectionReader(d.src, 0, end), end, d.name)
	if err != nil {
		if isLimit(err) || ctx.Err() != nil {
			return revisionAnalysis{}, err
		}
		t := say("change.notRevisionEnd", "the signed bytes do not end where a revision of the file ends (%[1]s)", err)
		return revisionAnalysis{changes: []Change{{What: t.String(), Text: t}}}, nil
	}
	defer sd.release()
	a := &analysis{old: sd, new: d, os: sd.walk(true), ns: final, handled: make(map[int]bool), seen: make(map[string]int)}
	a.perms = sd.permissions(a.os)
	if err := sd.limitError(); err != nil {
		return revisionAnalysis{}, err
	}
	ra := revisionAnalysis{sigs: make(map[int]bool)}
	for _, f := range a.os.sigFields {
		ra.sigs[refNumber(f.dict["V"])] = true
	}
	changed := a.changedObjects()
	if len(changed) == 0 && sameValue(sd.trailer["Root"], d.trailer["Root"]) && sameValue(sd.trailer["Info"], d.trailer["Info"]) {
		return ra, nil
	}
	// Even with no object changed, a trailer may point /Root or /Info at another object the signed
	// revision already held, unreferenced: the structural comparisons below run on what they resolve to.
	a.markHandled()
	a.catalog()
	a.info()
	a.pages()
	a.acroForm()
	a.fields()
	for _, nr := range changed {
		if !a.handled[nr] {
			a.object(nr)
		}
	}
	if err := sd.limitError(); err != nil {
		return revisionAnalysis{}, err
	}
	ra.changes = a.changes
	return ra, nil
}

func isLimit(err error) bool {
	return errors.Is(err, ErrTooLarge) || errors.Is(err, ErrBusy)
}

// add records a change once (its index in changes); a disallowed report of the same change wins
// over an allowed one.
func (a *analysis) add(allowed bool, t Text) int {
	what := t.String()
	if i, ok := a.seen[what]; ok {
		a.changes[i].Allowed = a.changes[i].Allowed && allowed
		return i
	}
	a.seen[what] = len(a.changes)
	a.changes = append(a.changes, Change{What: what, Allowed: allowed, Text: t})
	return len(a.changes) - 1
}

// changedObjects lists the object numbers whose definition differs from the signed revision's.
func (a *analysis) changedObjects() []int {
	var out []int
	stmChanged := func(stm int64) bool {
		o, n := a.old.xref[int(stm)], a.new.xref[int(stm)]
		return o != n
	}
	for nr, e := range a.new.xref {
		o, ok := a.old.xref[nr]
		switch {
		case !ok && e.typ == 0:
		case !ok || o != e:
			out = append(out, nr)
		case e.typ == 2 && stmChanged(e.a):
			out = append(out, nr)
		}
	}
	slices.Sort(out)
	return out
}

// markHandled lists the objects the structural rules judge, in either revision.
func (a *analysis) markHandled() {
	for _, s := range []*structure{a.os, a.ns} {
		for nr, us := range s.uses {
			for _, u := range us {
				switch u.role {
				case roleCatalog, rolePageTree, rolePage, roleAnnots, roleAcroForm, roleFields, roleInfo:
					a.handled[nr] = true
				}
			}
		}
		for nr := range s.fields {
			a.handled[nr] = true
		}
	}
}

// catalog compares the catalog key by key (pyHanko allows /AcroForm, /DSS, /Extensions,
// /Metadata and /Version to change; Signet too, the first two judged further below).
func (a *analysis) catalog() {
	oc, nc := a.old.catalog, a.new.catalog
	for _, k := range unionKeys(oc, nc) {
		if sameValue(oc[k], nc[k]) {
			continue
		}
		switch k {
		case "AcroForm", "Pages":
			// Judged by acroForm and pages, on what the entries resolve to.
		case "DSS":
			a.add(true, say("change.dss", "validation data (DSS) added"))
		case "Extensions", "Version":
			a.add(a.perms.docMDP != 1, say("change.catalog", "catalog /%[1]s changed", k))
		case "Metadata":
			a.changes[a.add(a.perms.docMDP != 1, say("change.xmp", "XMP metadata changed"))].Metadata = true
		default:
			a.add(false, say("change.catalogEntry", "catalog entry /%[1]s %[2]s", k, addedRemoved(oc[k], nc[k])))
		}
	}
}

func addedRemoved(o, n types.Object) Text {
	switch {
	case o == nil:
		return say("word.added", "added")
	case n == nil:
		return say("word.removed", "removed")
	}
	return say("word.changed", "changed")
}

// info compares the document information: Signet's evidence keys may never change; /ModDate and
// /Producer may (unless the certification forbids any change); any other key (title, author,
// subject, keywords …) is metadata: allowed only under a later signature (analyseAll).
func (a *analysis) info() {
	oi, ni := a.old.dict(a.old.trailer["Info"]), a.new.dict(a.new.trailer["Info"])
	for _, k := range unionKeys(oi, ni) {
		ov, nv := a.old.text(oi[k]), a.new.text(ni[k])
		if ov == nv && (oi[k] == nil) == (ni[k] == nil) {
			continue
		}
		if strings.HasPrefix(k, evidencePrefix) {
			a.changes[a.add(false, say("change.evidence", "evidence /%[1]s %[2]s after signing", k, addedRemoved(oi[k], ni[k])))].Evidence = true
			continue
		}
		i := a.add(a.perms.docMDP != 1, say("change.info", "document information /%[1]s %[2]s", k, addedRemoved(oi[k], ni[k])))
		a.changes[i].Metadata = !bookkeepingInfo[k]
	}
}

// pages compares every page by position, with the attributes it inherits.
func (a *analysis) pages() {
	op, np := a.os.pages, a.ns.pages
	if len(op) != len(np) {
		a.add(false, say("change.pageCount", "pages added or removed (%[1]s before, %[2]s now)", len(op), len(np)))
	}
	for i := range min(len(op), len(np)) {
		o, n := op[i], np[i]
		for _, k := range unionKeys(o, n) {
			if k == "Parent" || k == "Annots" || sameValue(o[k], n[k]) {
				continue
			}
			switch k {
			case "Contents":
				a.add(false, say("change.pageContent", "page %[1]s content replaced", i+1))
			case "Resources":
				a.add(false, say("change.pageResources", "page %[1]s resources changed", i+1))
			default:
				a.add(false, say("change.pageEntry", "page %[1]s /%[2]s %[3]s", i+1, k, addedRemoved(o[k], n[k])))
			}
		}
		a.annots(i+1, o["Annots"], n["Annots"])
	}
}

// annots compares a page's annotations: a removed one is a change; an added one is allowed only
// as the widget of a signature field.
func (a *analysis) annots(page int, o, n types.Object) {
	oa, na := a.old.array(o), a.new.array(n)
	for _, x := range oa {
		if !slices.ContainsFunc(na, func(y types.Object) bool { return sameValue(x, y) }) {
			a.add(false, say("change.annotationRemoved", "page %[1]s: an annotation removed", page))
		}
	}
	for _, y := range na {
		if slices.ContainsFunc(oa, func(x types.Object) bool { return sameValue(x, y) }) {
			continue
		}
		nr := refNumber(y)
		if f, ok := a.ns.fields[nr]; ok && nr >= 0 {
			if f.ft == "Sig" {
				if _, existed := a.os.fields[nr]; !existed {
					a.newSignatureField(f)
				}
			} else if _, existed := a.os.fields[nr]; !existed {
				a.add(false, say("change.fieldAddedOnPage", "form field %[1]q added on page %[2]s", f.name, page))
			}
			continue
		}
		sub := a.new.nameOf(a.new.dict(y)["Subtype"])
		if sub == "" {
			sub = "unknown"
		}
		a.add(false, say("change.annotationAdded", "page %[1]s: annotation /%[2]s added", page, sub))
	}
}

// newSignatureField judges a signature field that did not exist in the signed revision.
func (a *analysis) newSignatureField(f *field) {
	sig := a.new.dict(f.dict["V"])
	dts := sig != nil && isDocTimestamp(a.new, sig)
	ok, why := a.perms.sign("", dts)
	switch {
	case dts && !ok:
		a.add(false, say("change.docTimestampAddedRefused", "document timestamp %[1]q added: %[2]s", f.name, why))
	case dts:
		a.add(true, say("change.docTimestampAdded", "document timestamp %[1]q added", f.name))
	case !ok:
		a.add(false, say("change.sigFieldAddedRefused", "signature field %[1]q added: %[2]s", f.name, why))
	default:
		a.add(true, say("change.sigFieldAdded", "signature field %[1]q added", f.name))
	}
}

func isDocTimestamp(d *document, sig types.Dict) bool {
	return d.nameOf(sig["Type"]) == "DocTimeStamp" || d.nameOf(sig["SubFilter"]) == "ETSI.RFC3161"
}

// acroForm compares the interactive form dictionary: /Fields may gain signature fields; /SigFlags,
// /DR, /DA and /NeedAppearances may change (form filling); anything else is a change.
func (a *analysis) acroForm() {
	o, n := a.old.dict(a.old.catalog["AcroForm"]), a.new.dict(a.new.catalog["AcroForm"])
	// The lists are compared even when the entry is the same reference: the array object itself
	// may have been rewritten.
	a.fieldList("", o["Fields"], n["Fields"])
	for _, k := range unionKeys(o, n) {
		if sameValue(o[k], n[k]) {
			continue
		}
		switch k {
		case "Fields":
		case "SigFlags":
		case "DR", "DA", "NeedAppearances":
			a.add(a.perms.docMDP != 1, say("change.formDefault", "form default appearance /%[1]s changed", k))
		default:
			a.add(false, say("change.form", "form /%[1]s %[2]s", k, addedRemoved(o[k], n[k])))
		}
	}
}

// fieldList compares a /Fields or /Kids array.
func (a *analysis) fieldList(parent string, o, n types.Object) {
	oa, na := a.old.array(o), a.new.array(n)
	for _, x := range oa {
		if !slices.ContainsFunc(na, func(y types.Object) bool { return sameValue(x, y) }) {
			name := parent
			if f, ok := a.os.fields[refNumber(x)]; ok {
				name = f.name
			}
			a.add(false, say("change.fieldRemoved", "form field %[1]q removed", name))
		}
	}
	for _, y := range na {
		if slices.ContainsFunc(oa, func(x types.Object) bool { return sameValue(x, y) }) {
			continue
		}
		nr := refNumber(y)
		f, ok := a.ns.fields[nr]
		if !ok || nr < 0 {
			a.add(false, say("change.fieldKids", "form fields of %[1]q changed", parent))
			continue
		}
		if _, existed := a.os.fields[nr]; existed {
			continue // moved in the tree: its own changes are judged by fields
		}
		if f.ft == "Sig" {
			a.newSignatureField(f)
		} else {
			a.add(false, say("change.fieldAdded", "form field %[1]q added", f.name))
		}
	}
}

// fields compares every field of the signed revision that an update rewrote.
func (a *analysis) fields() {
	for _, nr := range slices.Sorted(maps.Keys(a.os.fields)) {
		of := a.os.fields[nr]
		nf, ok := a.ns.fields[nr]
		if !ok {
			if nd := a.new.dict(types.IndirectRef{ObjectNumber: types.Integer(nr)}); nd != nil && !sameValue(of.dict, nd) {
				nf = &field{name: of.name, ft: of.ft, dict: nd}
			} else {
				continue // no longer in the form: fieldList reports it
			}
		}
		if sameValue(of.dict["Kids"], nf.dict["Kids"]) {
			a.fieldList(of.name, of.dict["Kids"], nf.dict["Kids"]) // the same reference, maybe rewritten
		}
		if sameValue(of.dict, nf.dict) {
			continue
		}
		if of.ft == "Sig" {
			a.sigFieldChanged(of, nf)
		} else {
			a.formFieldChanged(of, nf)
		}
	}
}

func (a *analysis) sigFieldChanged(of, nf *field) {
	wasSigned := of.dict["V"] != nil
	for _, k := range unionKeys(of.dict, nf.dict) {
		ov, nv := of.dict[k], nf.dict[k]
		if sameValue(ov, nv) {
			continue
		}
		switch {
		case k == "V" && ov == nil:
			sig := a.new.dict(nv)
			dts := sig != nil && isDocTimestamp(a.new, sig)
			if ok, why := a.perms.sign(of.name, dts); !ok {
				a.add(false, say("change.sigFieldSignedRefused", "signature field %[1]q signed: %[2]s", of.name, why))
			} else {
				a.add(true, say("change.sigFieldSigned", "signature field %[1]q signed", of.name))
			}
		case k == "V" && nv == nil:
			a.add(false, say("change.signatureRemoved", "the signature of field %[1]q removed", of.name))
		case k == "V":
			a.add(false, say("change.signatureReplaced", "the signature of field %[1]q replaced", of.name))
		case !wasSigned && (k == "AP" || k == "AS" || k == "Rect" || k == "F" || k == "MK" || k == "DA"):
			// Signing an empty field draws its appearance.
		case k == "Kids":
			a.fieldList(of.name, ov, nv)
		default:
			a.add(false, say("change.sigFieldEntry", "signature field %[1]q /%[2]s %[3]s", of.name, k, addedRemoved(ov, nv)))
		}
	}
}

func (a *analysis) formFieldChanged(of, nf *field) {
	for _, k := range unionKeys(of.dict, nf.dict) {
		ov, nv := of.dict[k], nf.dict[k]
		if sameValue(ov, nv) {
			continue
		}
		switch k {
		case "V", "AS", "AP":
			if ok, why := a.perms.fill(of.name); !ok {
				a.add(false, say("change.fieldFilledRefused", "form field %[1]q filled: %[2]s", of.name, why))
			} else {
				a.add(true, say("change.fieldFilled", "form field %[1]q filled", of.name))
			}
		case "Kids":
			a.fieldList(of.name, ov, nv)
		default:
			a.add(false, say("change.fieldEntry", "form field %[1]q /%[2]s %[3]s", of.name, k, addedRemoved(ov, nv)))
		}
	}
}

// object judges a changed object by its roles in either revision.
func (a *analysis) object(nr int) {
	e := a.new.xref[nr]
	_, existed := a.old.xref[nr]
	existed = existed && a.old.xref[nr].typ != 0
	oldUses := a.os.uses[nr]
	if e.typ == 0 {
		if len(oldUses) > 0 {
			a.add(false, say("change.deleted", "%[1]s deleted", describe(oldUses[0])))
		}
		return
	}
	if existed && a.sameObject(nr) {
		return
	}
	uses := a.ns.uses[nr]
	if existed {
		uses = append(slices.Clone(uses), oldUses...)
	}
	for _, u := range uses {
		a.judge(u, existed, oldUses)
	}
}

// judge records the change of an object used as u.
func (a *analysis) judge(u use, existed bool, oldUses []use) {
	switch u.role {
	case roleContent:
		a.add(false, say("change.pageContent", "page %[1]s content replaced", u.page))
	case roleResources:
		a.add(false, say("change.pageResources", "page %[1]s resources changed", u.page))
	case rolePageAttr:
		a.add(false, say("change.pageAttr", "page %[1]s /%[2]s changed", u.page, u.key))
	case roleAnnot:
		a.add(false, say("change.annotationChanged", "page %[1]s: an annotation changed", u.page))
	case roleField:
		a.add(false, say("change.fieldChanged", "form field %[1]q changed", u.field))
	case roleFieldValue:
		if ok, why := a.perms.fill(u.field); !ok {
			a.add(false, say("change.fieldFilledRefused", "form field %[1]q filled: %[2]s", u.field, why))
		} else {
			a.add(true, say("change.fieldFilled", "form field %[1]q filled", u.field))
		}
	case roleFormResources:
		a.add(a.perms.docMDP != 1, say("change.formDefault", "form default appearance /%[1]s changed", u.key))
	case roleSigField:
		if existed && u.signed {
			a.add(false, say("change.sigFieldChanged", "signature field %[1]q changed", u.field))
		}
	case roleSigValue:
		if existed {
			a.add(false, say("change.sigDictReplaced", "the signature dictionary of field %[1]q replaced", u.field))
		}
	case roleSigAppearance:
		if existed && !slices.ContainsFunc(oldUses, func(o use) bool { return o.role == roleSigAppearance && !o.signed }) {
			a.add(false, say("change.sigAppearance", "the appearance of signature field %[1]q changed", u.field))
		}
	case roleDSS:
		a.add(true, say("change.dss", "validation data (DSS) added"))
	case roleMetadata:
		a.changes[a.add(a.perms.docMDP != 1, say("change.xmp", "XMP metadata changed"))].Metadata = true
	case roleOther:
		a.add(false, say("change.catalog", "catalog /%[1]s changed", u.key))
	}
}

// describe names what an object was used for.
func describe(u use) Text {
	switch u.role {
	case roleContent:
		return say("object.pageContent", "page %[1]s content", u.page)
	case roleResources:
		return say("object.pageResources", "page %[1]s resources", u.page)
	case rolePageAttr:
		return say("object.pageAttr", "page %[1]s /%[2]s", u.page, u.key)
	case roleAnnot:
		return say("object.annotation", "an annotation of page %[1]s", u.page)
	case roleField, roleFieldValue:
		return say("object.field", "form field %[1]q", u.field)
	case roleSigField, roleSigValue, roleSigAppearance:
		return say("object.sigField", "signature field %[1]q", u.field)
	case roleDSS:
		return say("object.dss", "validation data (DSS)")
	case roleMetadata:
		return say("object.xmp", "XMP metadata")
	case roleFormResources:
		return say("object.formDefault", "form default appearance")
	case roleInfo:
		return say("object.info", "document information")
	}
	return say("object.catalog", "catalog /%[1]s", u.key)
}

// sameObject reports whether object nr parses to the same value in both revisions (a stream:
// the same dictionary and the same raw bytes).
func (a *analysis) sameObject(nr int) bool {
	o, err1 := a.old.object(a.old.ctx, nr)
	n, err2 := a.new.object(a.new.ctx, nr)
	if err1 != nil || err2 != nil {
		return false
	}
	os, ok1 := o.(types.StreamDict)
	ns, ok2 := n.(types.StreamDict)
	if ok1 != ok2 {
		return false
	}
	if !ok1 {
		return sameValue(o, n)
	}
	od, nd := maps.Clone(os.Dict), maps.Clone(ns.Dict)
	delete(od, "Length")
	delete(nd, "Length")
	if !sameValue(od, nd) {
		return false
	}
	ob, ok1 := a.old.rawStreamHash(os)
	nb, ok2 := a.new.rawStreamHash(ns)
	return ok1 && ok2 && bytes.Equal(ob, nb)
}

// rawStreamHash is the SHA-256 of a stream's undecoded bytes.
func (d *document) rawStreamHash(sd types.StreamDict) ([]byte, bool) {
	n, ok := d.deref(sd.Dict["Length"]).(types.Integer)
	if !ok || n < 0 || sd.StreamOffset+int64(n) > d.size {
		return nil, false
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(d.src, sd.StreamOffset, int64(n))); err != nil {
		return nil, false
	}
	return h.Sum(nil), true
}

// sameValue compares two objects as written: indirect references by number, everything else
// by value (an integer equals the same real).
func sameValue(a, b types.Object) bool {
	a, b = normalise(a), normalise(b)
	switch x := a.(type) {
	case nil:
		return b == nil
	case types.Dict:
		y, ok := b.(types.Dict)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case types.Array:
		y, ok := b.(types.Array)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case types.StreamDict:
		y, ok := b.(types.StreamDict)
		return ok && sameValue(x.Dict, y.Dict) && x.StreamOffset == y.StreamOffset
	case types.Integer:
		if y, ok := b.(types.Float); ok {
			return float64(x) == float64(y)
		}
	case types.Float:
		if y, ok := b.(types.Integer); ok {
			return float64(x) == float64(y)
		}
	}
	return a == b
}

// normalise turns pointer forms into values, so that == compares them.
func normalise(o types.Object) types.Object {
	switch v := o.(type) {
	case *types.IndirectRef:
		if v == nil {
			return nil
		}
		return *v
	case types.IndirectRef:
		return types.IndirectRef{ObjectNumber: v.ObjectNumber, GenerationNumber: v.GenerationNumber}
	}
	return o
}

// unionKeys are the keys of both dictionaries, sorted.
func unionKeys(a, b types.Dict) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
