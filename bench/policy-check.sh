#!/usr/bin/env bash
# Times `custodia policy check` as a whole process (hyperfine, no shell), next to the
# floor for any process on this machine (`true`), on one sample case.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
case=examples/admissible-stored-data.case.json
hyperfine -N --warmup 50 --runs 500 \
  "/usr/bin/true" \
  "target/release/custodia policy check $case" \
  "target/release/custodia policy check $case --format text"
