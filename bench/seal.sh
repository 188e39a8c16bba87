#!/usr/bin/env bash
# Evidence sealing figures for BENCHMARKS.md "## seal": on a 1 GiB random file in
# /dev/shm, in the same run, `custodia evidence seal` vs `age -r` vs `gpg --encrypt -z 0`,
# `custodia evidence open` vs `age -d`, `custodia evidence verify` throughput, and peak
# memory (/usr/bin/time). Each command runs RUNS times, interleaved; medians are printed.
#   bench/seal.sh            1 GiB in /dev/shm
#   BIG=8 bench/seal.sh      also peak memory of seal/verify/open on an 8 GiB file
#                            (sparse input on disk, package on disk: needs ~16 GiB free)
#   CUSTODIA_BIN=target/release/custodia bench/seal.sh   use that binary, build nothing
# Needs: age, gpg, /usr/bin/time. Envelope rates: cargo bench -p seal --bench envelope.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
target=${CARGO_TARGET_DIR:-target}
if [ -n "${CUSTODIA_BIN:-}" ]; then
  C=$(realpath "$CUSTODIA_BIN")
else
  cargo build --release -q -p custodia
  C=$(realpath "$target/release/custodia")
fi
W=/dev/shm/custodia-seal-bench
rm -rf "$W" && mkdir -p "$W" && cd "$W"
trap 'rm -rf "$W"' EXIT
head -c $((1 << 30)) /dev/urandom > input.bin
"$C" keys generate bench --out keys >/dev/null
R=$(sed -n 's/^recipient: //p' keys/bench.pub)
export GNUPGHOME=$W/gnupg && mkdir -m 700 "$GNUPGHOME"
gpg --batch -q --passphrase '' --quick-gen-key bench@example.invalid default default never 2>/dev/null

# time_it NAME CMD...: appends "NAME seconds maxrss_kib" to results.
time_it() {
  local name=$1; shift
  /usr/bin/time -f "$name %e %M" -a -o results "$@" >/dev/null
}
for i in $(seq 1 "$RUNS"); do
  rm -rf pkg out.age out.gpg opened age-out.bin
  time_it "custodia-seal" "$C" evidence seal --to "$R" --sign keys/bench.key --out pkg input.bin
  time_it "age-encrypt" age -r "$R" -o out.age input.bin
  time_it "gpg-encrypt-z0" gpg --batch -q --yes --trust-model always -z 0 -r bench@example.invalid -o out.gpg --encrypt input.bin
  time_it "custodia-verify" "$C" evidence verify pkg --signer keys/bench.pub
  time_it "custodia-open" "$C" evidence open pkg --identity keys/bench.key --signer keys/bench.pub --out opened
  time_it "age-decrypt" age -d -i keys/bench.key -o age-out.bin out.age
done
cmp input.bin opened/input.bin
cmp input.bin age-out.bin
if [ -n "${BIG:-}" ]; then
  D=$(mktemp -d -p "${BIG_DIR:-/var/tmp}")
  truncate -s "${BIG}G" "$D/big.bin"
  time_it "custodia-seal-${BIG}GiB" "$C" evidence seal --to "$R" --sign keys/bench.key --out "$D/pkg" "$D/big.bin"
  time_it "custodia-verify-${BIG}GiB" "$C" evidence verify "$D/pkg" --signer keys/bench.pub
  time_it "custodia-open-${BIG}GiB" "$C" evidence open "$D/pkg" --identity keys/bench.key --signer keys/bench.pub --out "$D/opened"
  rm -rf "$D"
fi
python3 - results <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, secs, rss = line.split()
    rows.setdefault(name, []).append((float(secs), int(rss)))
gib = 1 << 30
for name, v in rows.items():
    t = statistics.median(s for s, _ in v)
    size = gib * (int(name.rsplit("-", 1)[1][:-3]) if name.endswith("GiB") else 1)
    print(f"{name:24} median {t:6.2f} s  {size / t / 1e9:5.2f} GB/s  peak RSS {max(r for _, r in v) / 1024:7.1f} MiB  (runs: {len(v)}, times {[s for s, _ in v]})")
PY
