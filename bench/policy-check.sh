#!/usr/bin/env bash
# Times `custodia policy check` as a whole process (hyperfine, no shell), next to the
# floor for any process on this machine (`/usr/bin/true`), on one sample case, and
# prints the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p custodia
case=examples/admissible-stored-data.case.json
out=$(mktemp)
hyperfine -N --warmup 50 --runs 1000 --export-json "$out" \
  "/usr/bin/true" \
  "target/release/custodia policy check $case" \
  "target/release/custodia policy check $case --format text"
python3 - "$out" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"{r['command']}: median {r['median']*1000:.2f} ms (min {r['min']*1000:.2f} ms)")
PY
