#!/bin/sh
# Installs the Debian packages Signet needs, only those missing. Usage: packages.sh run|test
#   run:  softhsm2 (the demo token)
#   test: also the tools that judge Signet's output and the peers it is measured against; gcc and libc6-dev
#         build the slow PKCS#11 module of the scheduling tests (keyring/softhsm/slowtoken)
set -eu
case "${1:-test}" in
  run)  want="softhsm2" ;;
  test) want="softhsm2 gcc libc6-dev opensc poppler-utils qpdf openssl libnss3-tools oathtool ghostscript fonts-dejavu-core zbar-tools attr chromium" ;;
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
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
