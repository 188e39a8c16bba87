#!/usr/bin/env bash
# Checks a log written by `custodia log` with Go's independent implementation
# (golang.org/x/mod/sumdb/note and sumdb/tlog, Debian packages golang-go and
# golang-golang-x-mod-dev): signature, every leaf against the tiles, the root, and
# inclusion proofs made by `custodia log prove`. Run by scripts/test; .ci/run installs
# Go and x/mod from Debian.
# Usage: crates/tlog/interop/run.sh [path/to/custodia]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
custodia="${1:-custodia}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$work/gocache" go build -o "$work/tlog-interop" "$here/go/main.go"
vkey="$("$custodia" log init --dir "$work/log" --origin example.com/interop 2>/dev/null)"
seq 1 70000 | sed 's/^/entry /' | "$custodia" log append --dir "$work/log"
printf 'hello\n\nworld\n' | "$custodia" log append --dir "$work/log"
"$custodia" log prove "$work/log" --index 70001 > "$work/p1"
"$custodia" log prove "$work/log" --index 12345 > "$work/p2"
"$custodia" log prove "$work/log" --index 70002 > "$work/p3"
"$work/tlog-interop" "$work/log" "$vkey" "$work/p1" "" "$work/p2" "entry 12346" "$work/p3" "world"
if "$work/tlog-interop" "$work/log" "$vkey" "$work/p2" "entry 12345" 2>/dev/null; then
  echo "FAIL: a proof for the wrong entry was accepted" >&2
  exit 1
fi
echo "interop: ok"
