#!/bin/sh
# Builds the Debian package of Signet from a staged tree with dpkg-deb (docs/operations.md, "Packages").
# Usage: build.sh BINARY VERSION OUTDIR   → OUTDIR/signet_VERSION_ARCH.deb
# Run through `go tool task deb`, which builds BINARY first with its version.
#
# Why dpkg-deb and not nfpm: dpkg-deb is Debian's own tool (the package is what dpkg itself builds and
# deploy/package_test.go reads back with it), it needs no new Go module, and this file is the whole
# recipe: control, conffiles, maintainer scripts and file modes are all in plain sight here.
set -eu
bin=$1 version=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)
systemd=$here/../systemd
arch=$(dpkg --print-architecture 2>/dev/null || go env GOARCH)
[ -x "$bin" ] || { echo "build.sh: $bin is not an executable; run go tool task deb" >&2; exit 1; }
case $version in [0-9]*) ;; *) echo "build.sh: version $version must start with a digit (Debian policy 5.6.12)" >&2; exit 1 ;; esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
umask 022
install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/signet" \
  "$stage/usr/share/doc/signet/examples"
install -m 0755 "$bin" "$stage/usr/bin/signet"
for u in signet-intake.service signet-worker.service signet-setup.service; do
  install -m 0644 "$systemd/$u" "$stage/lib/systemd/system/$u"
done
# The shared configuration; a conffile, so an upgrade keeps the administrator's edits.
install -m 0640 "$systemd/signet.yaml" "$stage/etc/signet/signet.yaml"
install -m 0644 "$systemd/usb-token.conf" "$stage/usr/share/doc/signet/examples/usb-token.conf"
install -m 0644 "$here/copyright" "$stage/usr/share/doc/signet/copyright"
for s in postinst prerm postrm; do
  install -m 0755 "$here/$s" "$stage/DEBIAN/$s"
done
echo /etc/signet/signet.yaml > "$stage/DEBIAN/conffiles"

# The cgo binary needs glibc at least as new as the newest symbol version it links.
glibc=$(objdump -T "$bin" 2>/dev/null | sed -n 's/.*GLIBC_\([0-9.]*\).*/\1/p' | sort -uV | tail -n 1)
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: signet
Version: $version
Architecture: $arch
Maintainer: Signet maintainers <signet@signet-b24.invalid>
Installed-Size: $size
Depends: adduser, libc6 (>= ${glibc:-2.34})
Recommends: softhsm2, pcscd
Section: net
Priority: optional
Homepage: https://github.com/signet-b24/signet
Description: PAdES PDF signing service for Bitrix24
 Signet signs PDFs for Bitrix24 workflows with keys on PKCS#11 tokens
 (SoftHSM, smartcards, HSMs): an HTTP intake, signing workers and a NATS
 JetStream queue between them. This package installs the signet binary,
 the systemd units signet-intake, signet-worker and signet-setup, and
 /etc/signet/signet.yaml; it makes the system user signet.
CONTROL

mkdir -p "$out"
deb="$out/signet_${version}_${arch}.deb"
# gzip: a quarter of the time xz takes on this 50 MB binary, and every dpkg reads it.
dpkg-deb --root-owner-group -Zgzip --build "$stage" "$deb" >/dev/null
echo "$deb"
