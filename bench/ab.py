#!/usr/bin/env python3
"""A/B: two builds of one Google Benchmark program, taking turns.

Runs OLD and NEW one after the other, ROUNDS times (OLD first in odd
rounds, NEW first in even ones, so that neither always gets the warmer or
the quieter turn), each with the same filter, and prints for every
benchmark the median rate of each build and NEW/OLD. A ratio under 1 is a
regression of the new build. Rates: items/s or bytes/s, or the records/s or
ops/s counter of a benchmark that times itself; for one that reports none,
the inverse of the time per iteration.

Usage: bench/ab.py OLD_BINARY NEW_BINARY [--filter REGEX] [--rounds N]
                   [--min-time SECONDS] [--json OUT]
Exit status: 0 after a complete run, 1 when a benchmark run failed, 2 on a
usage error. It judges nothing: read the ratios beside the spread of each
side (min..max over the rounds), which says how much the machine moved.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


# The rate each benchmark reports, first found: Google Benchmark's own,
# then the counters of conduit's benchmarks that time themselves
# (manual_time with one iteration: wal_bench).
RATE_FIELDS = ("items_per_second", "bytes_per_second", "records_per_s", "ops_per_s", "bytes_per_s")


def run_once(binary, flt, min_time):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    try:
        cmd = [binary, "--benchmark_out=" + out, "--benchmark_out_format=json"]
        if flt:
            cmd.append("--benchmark_filter=" + flt)
        if min_time:
            cmd.append("--benchmark_min_time=" + str(min_time))
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stderr)
            raise SystemExit(f"ab: {binary} exited {r.returncode}")
        with open(out) as f:
            data = json.load(f)
    finally:
        os.unlink(out)
    rates = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type") == "aggregate" or b.get("error_occurred"):
            continue
        rate = next((b[k] for k in RATE_FIELDS if k in b), None)
        if rate is not None:
            rates[b["name"]] = rate
        elif b.get("real_time"):
            rates[b["name"]] = 1.0 / b["real_time"]
    return data.get("context", {}), rates


def main():
    p = argparse.ArgumentParser(description="A/B two builds of one benchmark program, taking turns.")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--filter", default="")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--min-time", default="")
    p.add_argument("--json")
    a = p.parse_args()
    for b in (a.old, a.new):
        if not os.access(b, os.X_OK):
            print(f"ab: no benchmark program at '{b}'", file=sys.stderr)
            return 2
    if a.rounds < 1:
        print("ab: --rounds must be at least 1", file=sys.stderr)
        return 2
    runs = {"old": [], "new": []}
    context = {}
    for i in range(a.rounds):
        order = ["old", "new"] if i % 2 == 0 else ["new", "old"]
        for side in order:
            context, rates = run_once(getattr(a, side), a.filter, a.min_time)
            runs[side].append(rates)
            print(f"round {i + 1}/{a.rounds}: {side} done", file=sys.stderr)
    print(f"cores: {os.cpu_count()}  host: {context.get('host_name', '?')}  "
          f"rounds: {a.rounds}, taking turns  filter: {a.filter or '(all)'}")
    print(f"{'benchmark':64} {'old median':>12} {'new median':>12} {'new/old':>8}  old min..max / new min..max")
    rows = []
    names = [n for n in runs["old"][0] if all(n in r for r in runs["old"] + runs["new"])]
    for n in names:
        old = [r[n] for r in runs["old"]]
        new = [r[n] for r in runs["new"]]
        mo, mn = statistics.median(old), statistics.median(new)
        rows.append({"name": n, "old": old, "new": new, "ratio": mn / mo if mo else None})
        ratio = f"{mn / mo:8.3f}" if mo else "       -"
        print(f"{n[:64]:64} {mo:12.4g} {mn:12.4g} {ratio}  {min(old):.3g}..{max(old):.3g} / {min(new):.3g}..{max(new):.3g}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cores": os.cpu_count(), "rounds": a.rounds, "filter": a.filter, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
