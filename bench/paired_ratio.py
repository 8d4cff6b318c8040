#!/usr/bin/env python3
"""Same-run ratios of Google Benchmark benchmarks against a baseline, round by round.

Runs ROUNDS rounds; every round runs each benchmark the filter selects
once (one process each), in a fresh random order, so a benchmark and its
baseline take turns side by side. (Google Benchmark's own random
interleaving shuffles every repetition of every benchmark together, so
its repetitions do not pair up in time.) For each benchmark it prints
the median over the rounds of rate / baseline rate (each ratio taken
within one round, so a slow minute of the machine slows both sides of
it) with a 95% bootstrap interval, the ratios' quartiles and range, and each side's own spread (how
much the machine moved), with the core count and the load average before
and after.

Usage: bench/paired_ratio.py BINARY --filter REGEX --baseline SUBSTRING
                             [--rounds N] [--min-time SECONDS]
                             [--counter NAME]... [--json OUT]
The filter must select the baseline and what to compare with it. Rates:
items/s, or the inverse of the time per iteration. --counter adds the
median of a user counter of the benchmarks that report it. Exit status: 0
after a complete run, 1 when a run failed, 2 on a usage error. It judges
nothing.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile


def quartiles(xs):
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def median_interval(xs, draws=2000):
    """95% bootstrap interval of the median of xs (seeded: a rerun on the same numbers prints the same)."""
    rng = random.Random(1)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(draws))
    return meds[int(0.025 * draws)], meds[int(0.975 * draws) - 1]


def rate_of(b):
    if "items_per_second" in b:
        return b["items_per_second"]
    return 1.0 / b["real_time"] if b.get("real_time") else None


def listed(binary, flt):
    r = subprocess.run([binary, "--benchmark_list_tests", "--benchmark_filter=" + flt], capture_output=True,
                       text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit(1)
    return [n for n in r.stdout.split() if n]


def run(binary, name, min_time):
    """One turn: benchmark `name` once; its JSON entry."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [binary, "--benchmark_filter=^" + name + "$", "--benchmark_out=" + out, "--benchmark_out_format=json"]
    if min_time:
        cmd.append("--benchmark_min_time=" + str(min_time))
    try:
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.stderr.write(r.stderr)
            raise SystemExit(1)
        with open(out) as f:
            runs = [b for b in json.load(f).get("benchmarks", []) if b.get("run_type") == "iteration"]
        return runs[0] if len(runs) == 1 else None
    finally:
        os.unlink(out)


def main():
    p = argparse.ArgumentParser(description="Same-run ratios against a baseline, round by round.")
    p.add_argument("binary")
    p.add_argument("--filter", required=True)
    p.add_argument("--baseline", required=True, help="a substring naming the baseline benchmark")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--min-time", default="")
    p.add_argument("--counter", action="append", default=[], help="a user counter to report the median of")
    p.add_argument("--json")
    a = p.parse_args()
    if not os.access(a.binary, os.X_OK) or a.rounds < 2:
        print("paired_ratio: need a benchmark program and at least 2 rounds", file=sys.stderr)
        return 2
    names = listed(a.binary, a.filter)
    load_before = os.getloadavg()
    by_round = {}  # name -> {round: rate}
    counters = {}  # (name, counter) -> [values]
    for rnd in range(a.rounds):
        random.shuffle(names)
        for name in names:
            b = run(a.binary, name, a.min_time)
            if b is None or b.get("error_occurred"):
                continue
            rate = rate_of(b)
            if rate is not None:
                by_round.setdefault(b["name"], {})[rnd] = rate
            for c in a.counter:
                if c in b:
                    counters.setdefault((b["name"], c), []).append(b[c])
    load_after = os.getloadavg()
    base = [n for n in by_round if a.baseline in n]
    if len(base) != 1:
        print(f"paired_ratio: the baseline '{a.baseline}' names {len(base)} benchmarks", file=sys.stderr)
        return 2
    base = base[0]
    print(f"{os.cpu_count()} cores, load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; "
          f"{a.rounds} rounds, random order in each")
    report = {"cores": os.cpu_count(), "load_before": load_before[0], "load_after": load_after[0],
              "rounds": a.rounds, "baseline": base, "benchmarks": {}}
    for name, rates in sorted(by_round.items()):
        side = sorted(rates.values())
        lo, hi = quartiles(side)
        med = statistics.median(side)
        row = {"median_rate": med, "rate_q1": lo, "rate_q3": hi}
        line = f"{name}: median {med / 1e6:.2f} M/s, quartiles {lo / 1e6:.2f}..{hi / 1e6:.2f}"
        if name != base:
            ratios = sorted(rates[r] / by_round[base][r] for r in rates if r in by_round[base])
            q1, q3 = quartiles(ratios)
            lo95, hi95 = median_interval(ratios)
            row.update(ratio_median=statistics.median(ratios), ratio_median_95=[lo95, hi95], ratio_q1=q1,
                       ratio_q3=q3, ratio_min=ratios[0], ratio_max=ratios[-1], ratios=ratios)
            line += (f"; / baseline per round: median {row['ratio_median']:.3f} (95% {lo95:.3f}..{hi95:.3f}), "
                     f"quartiles {q1:.3f}..{q3:.3f}, range {ratios[0]:.3f}..{ratios[-1]:.3f} ({len(ratios)} rounds)")
        for c in a.counter:
            if (name, c) in counters:
                row[c] = statistics.median(counters[(name, c)])
                line += f"; {c} median {row[c]:.3g}"
        report["benchmarks"][name] = row
        print(line)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
