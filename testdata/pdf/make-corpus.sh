#!/bin/sh
# Builds the PDF test corpus of worker/pades from Debian tools (ghostscript, qpdf, poppler-utils,
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
