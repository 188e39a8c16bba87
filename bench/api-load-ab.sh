#!/usr/bin/env bash
# Interleaved A/B runs of the node's mixed API load (BENCHMARKS.md, "node"):
#   bench/api-load-ab.sh ROUNDS sqlite|pg BIN...
# Each round runs the load once per binary (15 s, 32 connections); before each PostgreSQL
# run the schema is dropped and a CHECKPOINT taken, and before every run `sync`. Prints the
# "all" and "Update" rows and the CPU line of each run. Build each binary with
# `cargo build --profile bench -p custodia` and copy it aside; the load generator is
# `cargo bench -p node --bench api_load --no-run`. DATABASE_URL names the PostgreSQL
# database (default postgres://postgres@127.0.0.1:5432/test); it is emptied.
set -u
cd "$(dirname "$0")/.."
rounds=$1; db=$2; shift 2
target=${CARGO_TARGET_DIR:-target}
LOAD=$(ls -t "$target"/release/deps/api_load-* | grep -v '\.d$' | head -1)
PG=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
for r in $(seq 1 "$rounds"); do
  for b in "$@"; do
    args=(--secs 15 --conns 32)
    if [ "$db" = pg ]; then
      psql "$PG" -qc 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' >/dev/null 2>&1
      psql "$PG" -qc 'CHECKPOINT' >/dev/null 2>&1
      args+=(--database "$PG")
    fi
    sync
    out=$(CUSTODIA_BIN=$(realpath "$b") "$LOAD" "${args[@]}" 2>&1)
    echo "round $r $b $db"
    echo "$out" | grep -E '^\| all|^\| Update|^CPU'
  done
done
