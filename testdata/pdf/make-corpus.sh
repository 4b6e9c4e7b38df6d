#!/bin/sh
# Builds the PDF test corpus of pades from Debian tools (ghostscript, qpdf, poppler-utils,
# libnss3-tools, openssl). Its outputs are committed; rerun after changing a recipe:
#   cd testdata/pdf && ./make-corpus.sh
set -eu
cd "$(dirname "$0")"
export SOURCE_DATE_EPOCH=1795000000
gs -q -dBATCH -dNOPAUSE -dSAFER -sDEVICE=pdfwrite -dCompatibilityLevel=1.4 \
   -sOutputFile=invoice-gs.pdf invoice.ps
# qpdf normalises the file (classic xref table, deterministic /ID).
qpdf --deterministic-id --object-streams=disable invoice-gs.pdf invoice.pdf
rm -f invoice-gs.pdf
qpdf --deterministic-id --object-streams=generate invoice.pdf xref-stream.pdf
qpdf --deterministic-id --linearize invoice.pdf linearized.pdf
for r in 90 180 270; do
  qpdf --deterministic-id --rotate=+$r:1 invoice.pdf rotated-$r.pdf
done
qpdf --static-id --encrypt user owner 256 -- invoice.pdf encrypted.pdf
qpdf --static-id --encrypt "" owner 256 -- invoice.pdf encrypted-nopass.pdf
qpdf --deterministic-id --empty --pages invoice.pdf invoice.pdf invoice.pdf -- multipage.pdf
qpdf --deterministic-id --empty --pages multipage.pdf invoice.pdf -- multipage-xref-stream.pdf.tmp
qpdf --deterministic-id --object-streams=generate multipage-xref-stream.pdf.tmp multipage-xref-stream.pdf
rm -f multipage-xref-stream.pdf.tmp
# An existing incremental update: append a new /Info dictionary by hand.
python3 - <<'PY'
import re
src = open("invoice.pdf", "rb").read()
size = int(re.search(rb"/Size (\d+)", src[src.rindex(b"trailer"):]).group(1))
root = re.search(rb"/Root (\d+ \d+ R)", src[src.rindex(b"trailer"):]).group(1)
ids = re.search(rb"/ID ?(\[[^\]]*\])", src[src.rindex(b"trailer"):]).group(1)
prev = int(src[src.rindex(b"startxref") + 9:].split()[0])
off = len(src)
obj = b"%d 0 obj\n<</Title (Invoice 2026-001, updated)/Producer (make-corpus.sh)>>\nendobj\n" % size
xref = off + len(obj)
tail = obj + b"xref\n%d 1\n%010d 00000 n\r\ntrailer\n<</Size %d/Root %s/Info %d 0 R/ID %s/Prev %d>>\nstartxref\n%d\n%%%%EOF\n" % (
    size, off, size + 1, root, size, ids, prev, xref)
open("incremental.pdf", "wb").write(src + tail)
PY
# Hand-made structures: a page with an inline /Annots array (a link) and an inline AcroForm with
# an empty, prepared signature field "Approval"; and a document certified with DocMDP P=1.
python3 - <<'PY'
def pdf(objs, name):
    out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    offs = []
    for i, o in enumerate(objs, 1):
        offs.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f\r\n" % (len(objs) + 1)
    for o in offs:
        out += b"%010d 00000 n\r\n" % o
    out += b"trailer\n<</Size %d/Root 1 0 R/ID[<0123456789abcdef0123456789abcdef><0123456789abcdef0123456789abcdef>]>>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    open(name, "wb").write(out)
content = b"BT /F1 18 Tf 72 760 Td (Contract with a prepared signature field) Tj ET"
page = b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>/Annots[<</Type/Annot/Subtype/Link/Rect[72 700 300 720]/Border[0 0 0]/A<</S/URI/URI(https://example.com/)>>>> 6 0 R]>>"
pdf([b"<</Type/Catalog/Pages 2 0 R/AcroForm<</Fields[6 0 R]>>>>",
     b"<</Type/Pages/Kids[3 0 R]/Count 1>>", page,
     b"<</Length %d>>\nstream\n" % len(content) + content + b"\nendstream",
     b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
     b"<</Type/Annot/Subtype/Widget/FT/Sig/T(Approval)/F 4/Rect[350 80 560 150]/P 3 0 R>>"], "form-field.pdf")
page = b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>"
content = b"BT /F1 18 Tf 72 760 Td (Certified, no changes allowed) Tj ET"
pdf([b"<</Type/Catalog/Pages 2 0 R/Perms<</DocMDP 6 0 R>>>>",
     b"<</Type/Pages/Kids[3 0 R]/Count 1>>", page,
     b"<</Length %d>>\nstream\n" % len(content) + content + b"\nendstream",
     b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
     b"<</Type/Sig/Filter/Adobe.PPKLite/SubFilter/ETSI.CAdES.detached/ByteRange[0 0 0 0]/Contents<00>/Reference[<</Type/SigRef/TransformMethod/DocMDP/TransformParams<</Type/TransformParams/P 1/V/1.2>>>>]>>"], "certified.pdf")
PY
# Truncated and not-a-PDF inputs.
head -c 1500 invoice.pdf > truncated.pdf
printf 'PK\003\004 this is a zip archive, not a PDF\n' > not-a-pdf.pdf
# A file signed by poppler's pdfsig (adbe.pkcs7.detached) with a throw-away key in an NSS db.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Poppler Test Signer" \
   -keyout "$tmp/k.pem" -out "$tmp/c.pem" 2>/dev/null
openssl pkcs12 -export -inkey "$tmp/k.pem" -in "$tmp/c.pem" -name popsigner -passout pass: -out "$tmp/p.p12"
certutil -N -d "sql:$tmp" --empty-password
pk12util -i "$tmp/p.p12" -d "sql:$tmp" -W "" >/dev/null
if pdfsig -nssdir "sql:$tmp" -add-signature -nick popsigner invoice.pdf pdfsig-signed.pdf >/dev/null 2>&1; then
  echo "pdfsig-signed.pdf made"
else
  echo "pdfsig -add-signature failed; pdfsig-signed.pdf not made" >&2
  rm -f pdfsig-signed.pdf
fi
ls -l *.pdf
