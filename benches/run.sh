#!/usr/bin/env bash
# Regenerates the figures in BENCHMARKS.md: the grouping-accuracy and leave-one-out tables on the
# LogHub 2k samples (benches/loghub-2k/), then mining throughput beside the read+split floor and peak RSS on two
# 1,000,000-line inputs made by repeating those samples (message column, and raw lines).
#
# usage: bash benches/run.sh [REPEATS]     (default 7; medians of REPEATS alternating timings)
#
# Needs Rust and python3. Honours CARGO_TARGET_DIR. Inputs are written under the target folder.
set -euo pipefail
cd "$(dirname "$0")/.."

repeats=${1:-7}
target=${CARGO_TARGET_DIR:-target}
inputs="$target/bench-inputs"
mkdir -p "$inputs"

say() { printf '\n## %s\n\n' "$*"; }

say "machine"
echo "cpu:    $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)"
echo "cores:  $(nproc) (load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown))"
echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo 2>/dev/null || echo unknown)"
echo "os:     $(uname -srm)"
echo "rustc:  $(rustc --version)"
echo "date:   $(date -u +%Y-%m-%dT%H:%M:%SZ)"

say "grouping accuracy and leave-one-out (cargo test -p argus --test logmine_accuracy)"
# Two tables: GA per dataset (message column, corrected labels, whole raw lines), then the default
# beside settings chosen on the other seven datasets only.
# (cargo's quiet progress dots can share a line with a table's first row, so they are dropped.)
cargo test --locked -q -p argus --test logmine_accuracy -- --nocapture --test-threads=1 2>&1 |
  sed 's/^\.*//' | sed -n '/^dataset/,/^mean/p'

say "inputs"
python3 - "$inputs" <<'PY'
import csv, sys
from pathlib import Path

root = Path("benches/loghub-2k")
names = ["HDFS", "Apache", "BGL", "HealthApp", "Linux", "OpenSSH", "Proxifier", "Spark"]
contents, raw = [], []
for name in names:
    with open(root / name / f"{name}_2k.log_structured.csv", newline="", encoding="utf-8") as f:
        contents += [row["Content"] for row in csv.DictReader(f)]
    raw += (root / name / f"{name}_2k.log").read_bytes().decode("utf-8", "replace").splitlines()

def write(path, lines, total=1_000_000):
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for index in range(total):
            out.write(lines[index % len(lines)])
            out.write("\n")
    print(f"{path}: {total} lines from {len(lines)} distinct sample lines")

write(Path(sys.argv[1]) / "content_1m.log", contents)
write(Path(sys.argv[1]) / "raw_1m.log", raw)
PY

cargo build --locked -q --release -p argus-cli
argus="$target/release/argus"

for input in content_1m raw_1m; do
  say "throughput: $input.log (argus logs bench --repeats $repeats)"
  "$argus" logs bench --repeats "$repeats" "$inputs/$input.log" 2>/dev/null
  say "peak RSS: argus logs mine $input.log"
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -f 'peak RSS %M KiB, %e s wall' "$argus" logs mine "$inputs/$input.log" >/dev/null
  else
    echo "(/usr/bin/time is not installed; see the bench's own peak RSS above)"
  fi
done
