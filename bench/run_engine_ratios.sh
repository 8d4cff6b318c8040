#!/usr/bin/env bash
# Runs bench/engine_bench and prints each benchmark's throughput and the two
# goal ratios (see bench/README.md):
#   conduit 1P/1S  / moodycamel 1P/1C   (goal >= 0.8; also printed, without
#                                         a goal, with a subscriber that lingers)
#   fan-out 8      / fan-out 1          (goal >= 0.7)
#
# Usage: bench/run_engine_ratios.sh [path/to/engine_bench] [extra benchmark flags...]
# Default binary: build/engine_bench. REPETITIONS (default 3) runs of each
# benchmark, interleaved in random order; the ratios use the medians, and the
# same ratios of the best runs are printed beside them. Needs python3.
# Exits 1 when a goal is missed or a benchmark failed, 2 on a usage error.
set -euo pipefail

bench=${1:-build/engine_bench}
[[ $# -gt 0 ]] && shift
repetitions=${REPETITIONS:-3}

if [[ ! -x "$bench" ]]; then
  echo "no benchmark binary at '$bench' (build with: cmake --build build -j2)" >&2
  exit 2
fi

json=$(mktemp "${TMPDIR:-/tmp}/engine_bench.XXXXXX.json")
trap 'rm -f "$json"' EXIT

echo "nproc: $(nproc)"
# The console shows the aggregates; the JSON file keeps every run.
"$bench" --benchmark_repetitions="$repetitions" \
         --benchmark_enable_random_interleaving=true \
         --benchmark_display_aggregates_only=true \
         --benchmark_out="$json" --benchmark_out_format=json \
         "$@" >&2

python3 - "$json" <<'EOF'
import json
import statistics
import sys

with open(sys.argv[1]) as f:
    data = json.load(f)

runs, errors = {}, {}  # run_name -> [items_per_second of each repetition]
for b in data["benchmarks"]:
    if b.get("run_type") == "aggregate":
        continue
    name = b.get("run_name", b["name"])
    if b.get("error_occurred"):
        errors[name] = b.get("error_message", "error")
    elif "items_per_second" in b:
        runs.setdefault(name, []).append(b["items_per_second"])

def pick(prefix, how):
    for name, rates in runs.items():
        if name.startswith(prefix):
            return how(rates)
    return None

# Registration order, whatever order the interleaved runs came in.
order = {}
for b in data["benchmarks"]:
    order.setdefault(b.get("run_name", b["name"]), b.get("family_index", 0) * 100 + b.get("per_family_instance_index", 0))
runs = dict(sorted(runs.items(), key=lambda kv: order.get(kv[0], 0)))

print()
print(f"{'benchmark':<44} {'median':>10} {'best':>10} {'cv':>7}  (items/s)")
for name, rates in runs.items():
    med = statistics.median(rates)
    cv = statistics.pstdev(rates) / statistics.mean(rates) if len(rates) > 1 else 0.0
    print(f"{name:<44} {med / 1e6:8.2f} M {max(rates) / 1e6:8.2f} M {cv * 100:6.1f}%")
for name, msg in errors.items():
    print(f"{name:<44} ERROR: {msg}")

print()
print(f"{'ratio':<44} {'median':>8} {'best':>8}  goal")
ok = not errors
def ratio(label, num, den, goal):
    global ok
    m = [pick(p, statistics.median) for p in (num, den)]
    b = [pick(p, max) for p in (num, den)]
    if None in m:
        print(f"{label:<44} n/a (benchmark missing or filtered out)")
        return
    r = m[0] / m[1]
    if goal is None:  # for information: no goal of its own
        print(f"{label:<44} {r:8.3f} {b[0] / b[1]:8.3f}")
        return
    met = r >= goal
    ok &= met
    print(f"{label:<44} {r:8.3f} {b[0] / b[1]:8.3f}  >= {goal}: {'met' if met else 'MISSED'}")

base = "BM_Moodycamel_1P1C"
ratio("conduit 1P/1S busy-spin / moodycamel 1P/1C", "BM_Conduit_1P1S/busy_spin/", base, 0.8)
ratio("conduit 1P/1S adaptive / moodycamel 1P/1C", "BM_Conduit_1P1S/adaptive/", base, 0.8)
ratio("  single_producer topic, busy-spin", "BM_Conduit_1P1S_SingleProducer/busy_spin/", base, None)
ratio("  single_producer topic, adaptive", "BM_Conduit_1P1S_SingleProducer/adaptive/", base, None)
ratio("  the same, linger 20 us (not the default)", "BM_Conduit_1P1S/busy_spin_linger_20us/", base, None)
ratio("  the same, linger 100 us (not the default)", "BM_Conduit_1P1S/busy_spin_linger_100us/", base, None)
ratio("claim + commit (zero copy), busy-spin", "BM_ConduitClaim_1P1S/busy_spin/", base, None)
ratio("  the same, adaptive", "BM_ConduitClaim_1P1S/adaptive/", base, None)
ratio("batches of 64: publish_batch busy-spin", "BM_ConduitBatch_1P1S/busy_spin/", "BM_MoodycamelBulk_1P1C", None)
ratio("  / enqueue_bulk; adaptive", "BM_ConduitBatch_1P1S/adaptive/", "BM_MoodycamelBulk_1P1C", None)
ratio("fan-out 8 / fan-out 1", "BM_Conduit_FanOut/subscribers:8/", "BM_Conduit_FanOut/subscribers:1/", 0.7)
sys.exit(0 if ok else 1)
EOF
