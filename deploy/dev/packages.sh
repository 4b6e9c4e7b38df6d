#!/bin/sh
# Installs the Debian packages Signet needs, only those missing. Usage: packages.sh run|test
#   run:  softhsm2 (the demo token)
#   test: also the tools that judge Signet's output and the peers it is measured against; gcc and libc6-dev
#         build the slow PKCS#11 module of the scheduling tests (keyring/softhsm/slowtoken); systemd,
#         systemd-container and debootstrap serve the package and unit tests of deploy/
set -eu
case "${1:-test}" in
  run)  want="softhsm2" ;;
  test) want="softhsm2 gcc libc6-dev opensc poppler-utils qpdf openssl libnss3-tools oathtool ghostscript fonts-dejavu-core zbar-tools attr chromium systemd systemd-container debootstrap" ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "Signet needs these Debian packages:$missing" >&2
  echo "Install them as root: sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "installing:$missing"
# Another apt (unattended upgrades at boot) may hold the lock: wait for it (up to 10 minutes) rather than fail.
lock="-o DPkg::Lock::Timeout=600"
tries=0
until apt-get $lock update -qq; do
  tries=$((tries + 1)); [ "$tries" -ge 60 ] && exit 1
  echo "apt-get update failed (another apt holding its lock?); retrying in 10 s" >&2; sleep 10
done
DEBIAN_FRONTEND=noninteractive apt-get $lock install -y -qq --no-install-recommends $missing >/dev/null
