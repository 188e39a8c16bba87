#!/usr/bin/env bash
# Regenerates fixtures/ for the trycmd cases in this folder (test keys only: never use
# them for anything else). Usage: make-fixtures.sh PATH-TO-custodia
# After regenerating, refresh the expected outputs: TRYCMD=overwrite cargo test -p custodia --test seal_trycmd
set -euo pipefail
C=${1:?path to the custodia binary}
cd "$(dirname "$0")"
rm -rf fixtures && mkdir -p fixtures/data/logs && cd fixtures
$C keys generate provider --out keys --valid-days 36500 >/dev/null
$C keys generate court --out keys --valid-days 36500 >/dev/null
$C keys generate provider --out impostor --valid-days 36500 >/dev/null
rm impostor/provider.key
printf 'Subscriber information for account 4711\nname: (test data)\n' > data/report.txt
for i in $(seq 1 1700); do printf 'line %05d: GET /inbox 200 (test data)\n' "$i"; done > data/logs/access.log
to=$(sed -n 's/^recipient: //p' keys/court.pub)
$C evidence seal --to "$to" --sign keys/provider.key --out pkg data >/dev/null
$C evidence seal --to "$to" --sign keys/provider.key --out other-pkg data >/dev/null
big=files/data/logs/access.log.age
cp -r pkg pkg-flipped-chunk
python3 -c "import sys;p=sys.argv[1];b=bytearray(open(p,'rb').read());b[len(b)-40]^=1;open(p,'wb').write(b)" pkg-flipped-chunk/$big
cp -r pkg pkg-truncated
python3 -c "import sys;p=sys.argv[1];b=open(p,'rb').read();open(p,'wb').write(b[:-100])" pkg-truncated/$big
cp -r pkg pkg-swapped && cp other-pkg/$big pkg-swapped/$big && rm -rf other-pkg
cp -r pkg pkg-missing-file && rm pkg-missing-file/files/data/report.txt.age
cp -r pkg pkg-bad-signature
python3 - pkg-bad-signature/MANIFEST <<'PY'
import sys
p = sys.argv[1]
t = open(p, encoding="utf-8").read()
i = t.rindex(" ") + 20
t = t[:i] + ("B" if t[i] == "A" else "A") + t[i + 1:]
open(p, "w", encoding="utf-8").write(t)
PY
cp keys/provider.pub provider-tampered.pub
sed -i 's/^not-after: \(.*\)$/not-after: 9\1/' provider-tampered.pub
