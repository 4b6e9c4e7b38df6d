#!/bin/sh
# Builds the MinIO server the S3 tests run against, from the Go module proxy, once; later runs reuse it.
# It is built outside this module so that it never enters Signet's go.mod.
set -eu
version=v0.0.0-20260212201848-7aac2a2c5b7c
bin="$(go env GOPATH)/bin/minio"
stamp="$bin.version"
if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then exit 0; fi
echo "building MinIO $version from the Go module proxy (about 3 minutes, once)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && GOFLAGS=-mod=mod GOBIN="$(go env GOPATH)/bin" go install "github.com/minio/minio@$version")
echo "$version" > "$stamp"
