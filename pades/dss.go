package pades

// Writing the document security store (ISO 32000-2 §12.8.4.3; ETSI EN 319 142-1 §5.4.2, PAdES
// B-LT) in an incremental update: the catalog's /DSS gets /Certs, /OCSPs and /CRLs, arrays of
// indirect streams holding DER certificates, OCSPResponses and CRLs, and a /VRI entry per
// signature keyed by the uppercase hex SHA-1 of the signature's whole decoded /Contents, zero
// padding included (what Adobe, EU DSS and pyHanko look up; hashing only the DER makes them miss
// it). A DSS already there is kept and grown: its streams and VRI entries are never changed or
// dropped, which is what the modification analysis (diff.go, pyHanko's DSSCompareRule) allows.
// A PDF 1.x file also gets the catalog's /Extensions /ESIC entry PAdES asks for (EN 319 142-1
// §5.4.1; DSS is a PDF 2.0 feature).

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// vriEntry is the validation data of one signature, as DER blobs.
type vriEntry struct {
	certs, ocsps, crls [][]byte
}

// validationSet is what an update adds: per VRI key (vriKey) the signature's data.
type validationSet struct {
	vri   map[string]*vriEntry
	order []string // VRI keys in the order of the signatures
}

func (v *validationSet) entry(contents []byte) *vriEntry {
	k := vriKey(contents)
	if v.vri == nil {
		v.vri = map[string]*vriEntry{}
	}
	e, ok := v.vri[k]
	if !ok {
		e = &vriEntry{}
		v.vri[k] = e
		v.order = append(v.order, k)
	}
	return e
}

func addDER(list *[][]byte, der []byte) {
	for _, x := range *list {
		if bytes.Equal(x, der) {
			return
		}
	}
	*list = append(*list, der)
}

// vriKey is the VRI key of a signature: uppercase hex SHA-1 of the whole decoded /Contents.
func vriKey(contents []byte) string {
	sum := sha1.Sum(contents)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// dssCounts says how many streams an update added.
type dssCounts struct{ certs, ocsps, crls int }

var pdfVersion = regexp.MustCompile(`^%PDF-(\d+)\.(\d+)`)

// writeDSS appends the update that adds set to the DSS of in.
func writeDSS(ctx context.Context, in []byte, set *validationSet, when time.Time) ([]byte, dssCounts, error) {
	var counts dssCounts
	d, err := readDocument(ctx, bytes.NewReader(in), int64(len(in)), "document")
	if err != nil {
		return nil, counts, err
	}
	defer d.release()
	old, err := d.readDSS(ctx)
	if err != nil {
		return nil, counts, err
	}
	next := int(d.trailer["Size"].(types.Integer))
	if d.maxObjNr+1 > next {
		next = d.maxObjNr + 1
	}
	alloc := func() int { n := next; next++; return n }
	w := newIncrement(d.size)
	if !d.endsWithEOL {
		w.buf.WriteByte('\n') // ISO 32000-1 §7.5.6
	}

	// Each blob once: the streams already in the DSS are referred to, new ones written.
	type list struct {
		refs  types.Array
		known map[[32]byte]types.Object
		n     *int
	}
	lists := map[string]*list{}
	for _, k := range []struct {
		key   string
		items []dssItem
		n     *int
	}{{"Certs", old.certs, &counts.certs}, {"OCSPs", old.ocsps, &counts.ocsps}, {"CRLs", old.crls, &counts.crls}} {
		l := &list{known: map[[32]byte]types.Object{}, n: k.n}
		for _, it := range k.items {
			l.refs = append(l.refs, it.ref)
			l.known[derKey(it.der)] = it.ref
		}
		lists[k.key] = l
	}
	refOf := func(key string, der []byte) types.Object {
		l := lists[key]
		if r, ok := l.known[derKey(der)]; ok {
			return r
		}
		nr := alloc()
		w.stream(nr, "", der)
		r := *types.NewIndirectRef(nr, 0)
		l.refs = append(l.refs, r)
		l.known[derKey(der)] = r
		*l.n++
		return r
	}

	vri := types.Dict{}
	if old.vri != nil {
		vri = maps.Clone(old.vri)
	}
	for _, k := range set.order {
		e := set.vri[k]
		entry := types.Dict{"TU": types.StringLiteral(strings.Trim(pdfDate(when.UTC()), "()"))}
		for _, part := range []struct {
			list, vriKey string
			ders         [][]byte
		}{{"Certs", "Cert", e.certs}, {"OCSPs", "OCSP", e.ocsps}, {"CRLs", "CRL", e.crls}} {
			var refs types.Array
			for _, der := range part.ders {
				refs = append(refs, refOf(part.list, der))
			}
			if len(refs) > 0 {
				entry[part.vriKey] = refs
			}
		}
		if _, exists := vri[k]; !exists { // an earlier VRI entry stays as it was
			vri[k] = entry
		}
	}

	dss := types.Dict{"Type": types.Name("DSS"), "VRI": vri}
	for key, l := range lists {
		if len(l.refs) > 0 {
			dss[key] = l.refs
		}
	}
	dssNr, dssGen := 0, 0
	if r, ok := old.ref.(types.IndirectRef); ok {
		dssNr, dssGen = int(r.ObjectNumber), int(r.GenerationNumber) // grown in place
	} else {
		dssNr = alloc()
	}
	if err := w.object(dssNr, dssGen, dss); err != nil {
		w.release()
		return nil, counts, docError(d.name, ErrCorrupt, "DSS: %v", err)
	}
	cat := maps.Clone(d.catalog)
	cat["DSS"] = *types.NewIndirectRef(dssNr, dssGen)
	// Under a P=1 certification the analysis counts any /Extensions change (diff.go): ESIC is a
	// "should", the certification a must.
	if d.needsESIC() && !d.certifiedNoChanges(d.catalog) {
		ext := types.Dict{}
		if e := d.dict(cat["Extensions"]); e != nil {
			ext = maps.Clone(e)
		}
		if ext["ESIC"] == nil {
			ext["ESIC"] = types.Dict{"BaseVersion": types.Name("1.7"), "ExtensionLevel": types.Integer(1)}
		}
		cat["Extensions"] = ext // direct: a rewritten indirect object would be an unexplained change
	}
	if err := w.object(int(d.root.ObjectNumber), int(d.root.GenerationNumber), cat); err != nil {
		w.release()
		return nil, counts, docError(d.name, ErrCorrupt, "catalog: %v", err)
	}
	d.finishUpdate(w, alloc, &next, when)
	if err := d.limitError(); err != nil {
		w.release()
		return nil, counts, err
	}
	out := make([]byte, 0, len(in)+w.buf.Len())
	out = append(append(out, in...), w.buf.Bytes()...)
	w.release()
	return out, counts, nil
}

// needsESIC: the document is PDF 1.x, by its header and the catalog's /Version.
func (d *document) needsESIC() bool {
	head := make([]byte, 16)
	n, _ := d.src.ReadAt(head, d.headerAt)
	major := 1
	if m := pdfVersion.FindSubmatch(head[:n]); m != nil {
		major, _ = strconv.Atoi(string(m[1]))
	}
	if v := d.nameOf(d.catalog["Version"]); v != "" {
		if i := strings.IndexByte(v, '.'); i > 0 {
			if mv, err := strconv.Atoi(v[:i]); err == nil && mv > major {
				major = mv
			}
		}
	}
	return major < 2
}
