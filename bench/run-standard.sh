#!/usr/bin/env bash
# The standard benchmark suite: every scaling series of tools/bench-plot,
# each point run REPEATS times against its same-run baseline, then the
# plots (when gnuplot is installed: scripts/setup.sh installs it) and a
# Markdown summary. 38 points x 3 runs of 1 s per side: 228 s of runs on a
# 2-core machine, plus starting each; the limit it is held to is 10 minutes.
#
# Usage: bench/run-standard.sh [build-dir] [out-dir]
#   build-dir  where conduit-bench is built (default: build; built if missing)
#   out-dir    where the JSON, plots and summary.md go (default: bench-results)
# DURATION (seconds per side, default 1), REPEATS (runs per point, default
# 3) and SERIES (comma-separated subset) override the defaults; BENCH_DIR is
# passed to conduit-bench --dir.
# Exits 1 when a run failed, 2 on a usage error.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build}
out=${2:-bench-results}

if [[ ! -x "$build/conduit-bench" ]]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" --target conduit-bench
fi

start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
args=(run --bench "$build/conduit-bench" --out "$out" --duration "${DURATION:-1}" --repeats "${REPEATS:-3}")
[[ -n ${SERIES:-} ]] && args+=(--series "$SERIES")
[[ -n ${BENCH_DIR:-} ]] && args+=(--dir "$BENCH_DIR")
status=0
python3 tools/bench-plot "${args[@]}" || status=$?
[[ $status -eq 2 ]] && exit 2

{
  echo "# conduit-bench standard suite"
  echo
  echo "$(date -u +%Y-%m-%d), kernel $(uname -r), $(nproc) cores," \
       "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo
  echo "Load average (1/5/15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)" \
       "(other work on the machine shows here)."
  python3 tools/bench-plot table "$out"
} >"$out/summary.md"

if command -v gnuplot >/dev/null; then
  python3 tools/bench-plot plot "$out" || status=1
else
  echo "run-standard: gnuplot not installed; no plots (Debian: apt-get install gnuplot-nox)" >&2
fi
echo "run-standard: done in $(( $(date +%s) - start )) s; results in $out (summary.md)" >&2
exit "$status"
