#!/bin/sh
# Makes a random password for each of Signet's NATS users (deploy/nats/signet-accounts.conf) into DIR
# (default ./nats-users):
#   nats-ROLE.password   the plain password, for the Signet hosts of that role (nats.password_file,
#                        /etc/signet/nats.password, mode 0600, owner signet)
#   signet-users.env     SIGNET_NATS_ROLE_BCRYPT=<bcrypt hash> lines for every NATS node (the nats-server
#                        unit's EnvironmentFile, mode 0600, owner nats)
# Needs htpasswd (apache2-utils) or the nats CLI for the bcrypt hashes. Rotate one role: run again with
# ROLES=worker, replace its lines in signet-users.env on every node and reload (nats-server --signal
# reload), then put the new password on the role's hosts and restart them.
#
#   sh deploy/nats/gen-users.sh [DIR]
set -eu
dir=${1:-./nats-users}
roles=${ROLES:-intake worker callback admin status sys}
umask 077
mkdir -p "$dir"
hash() {
  if command -v htpasswd >/dev/null; then
    htpasswd -bnBC 11 "" "$1" | tr -d ':\n' | sed 's/^\$2y/$2a/'
  else
    printf '%s\n' "$1" | nats server passwd --cost 11 -f 2>/dev/null | tail -n1
  fi
}
: > "$dir/signet-users.env.new"
for role in $roles; do
  pw=$(openssl rand -hex 24)
  printf '%s\n' "$pw" > "$dir/nats-$role.password"
  upper=$(printf '%s' "$role" | tr a-z A-Z)
  # Single quotes: the hash holds '$' signs that a shell or systemd must not expand.
  printf "SIGNET_NATS_%s_BCRYPT='%s'\n" "$upper" "$(hash "$pw")" >> "$dir/signet-users.env.new"
done
mv "$dir/signet-users.env.new" "$dir/signet-users.env"
echo "passwords and hashes in $dir; give each role's host only its own nats-ROLE.password."
