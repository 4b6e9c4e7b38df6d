#!/bin/sh
# Makes the TLS material of Signet's NATS cluster with OpenSSL, into DIR (default ./nats-tls):
#   ca.pem, ca-key.pem                 the cluster's own CA (keep ca-key.pem offline after this)
#   nats-N.pem, nats-N-key.pem         each node's certificate: server and client (routes are mutual TLS)
#   client-ROLE.pem, client-ROLE-key.pem  optional client certificates for mutual TLS to clients
# Copy ca.pem and nats-N*.pem to /etc/nats/tls/ on node N (keys mode 0600, owner nats), ca.pem to every
# Signet host (nats.tls_ca_file). Never commit the keys. Renew before the 825-day validity ends: run
# again with the same CA (KEEP_CA=1) and restart the nodes one at a time.
#
#   sh deploy/nats/gen-certs.sh [DIR] [extra SAN, e.g. DNS:nats.nats.svc]
set -eu
dir=${1:-./nats-tls}
extra=${2:-}
umask 077
mkdir -p "$dir"
cd "$dir"
if [ "${KEEP_CA:-0}" != 1 ] || [ ! -f ca-key.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -keyout ca-key.pem -out ca.pem -subj "/O=Signet/CN=Signet NATS CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
fi
issue() { # name san extendedKeyUsage
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1-key.pem" -out "$1.csr" -subj "/O=Signet/CN=$1"
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n' "$2" "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 -extfile "$1.ext" -out "$1.pem"
  rm -f "$1.csr" "$1.ext"
}
for n in 1 2 3; do
  san="DNS:nats-$n,DNS:nats,DNS:localhost,IP:127.0.0.1"
  [ -n "$extra" ] && san="$san,$extra"
  issue "nats-$n" "$san" "serverAuth,clientAuth"
done
for role in intake worker callback admin status; do
  issue "client-$role" "email:$role@signet" "clientAuth"
done
chmod 0644 ./*.pem
chmod 0600 ./*-key.pem
echo "TLS material in $dir; copy the keys to their hosts only."
