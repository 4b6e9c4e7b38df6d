#!/bin/sh
# Builds Mailpit, the SMTP server the e-mail tests send to (mail.*), from the Go module proxy, once;
# later runs reuse it. Built outside this module so that it never enters Signet's go.mod (like minio.sh).
set -eu
version=v1.33.1
bin="$(go env GOPATH)/bin/mailpit"
stamp="$bin.version"
if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then exit 0; fi
echo "building Mailpit $version from the Go module proxy (about a minute, once)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && GOFLAGS=-mod=mod GOBIN="$(go env GOPATH)/bin" go install "github.com/axllent/mailpit@$version")
echo "$version" > "$stamp"
