#!/usr/bin/env python3
"""The README's results table: runs a fixed set of conduit-bench scenarios,
each against the baseline conduit-bench measures in the same run, keeps
every run's JSON in one file, and rewrites the table between the markers
in README.md from it.

  bench/results_table.py                      # run (about 2 minutes on 2 cores), then write the table
  bench/results_table.py --duration 2 --repeats 5
  bench/results_table.py --from-json          # rewrite the table from the kept JSON, no run
  bench/results_table.py --check              # exit 1 when README.md's table is not what the JSON gives

Each figure is the median over the repeats of conduit-bench's own ratio
(conduit ÷ baseline within one run), with the range beside it. A few rows
come from the Google Benchmark programs next to conduit-bench instead
(GBench below): engine_bench runs the baseline and conduit's benchmark in
one process, latency_bench its ping-pongs in turns with the floor; their
ratio is taken within that one process run. The repeats
take turns over the scenarios (every scenario once, then again), so a slow
minute on a shared machine is spread over all of them rather than landing
on one. Python 3 standard library only. Exits 1 when a run failed or a
check failed, 2 on a usage error.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN = "<!-- results-table:begin -->"
END = "<!-- results-table:end -->"

MOODY = "moodycamel queue"
RAW_SYNC = "one thread: pwrite + fdatasync"
RAW_ASYNC = "io_uring writes of the same payload bytes"

# (key, scenario, baseline, conduit-bench args or a GBench, [(measure, ratio key, side figure)])
# ratio key: a key of the JSON's "ratios"; side figure: how to print each
# side's own value beside the ratio.
MEM = ["--durability", "memory", "--payload", "64"]


class GBench:
    """A row pair from a Google Benchmark program built beside conduit-bench:
    engine_bench's `baseline` and `conduit` benchmarks (items/s) in one
    process, or latency_bench's ping-pong (its counters) when `conduit` is
    None."""

    def __init__(self, program, baseline, conduit=None):
        self.program, self.baseline, self.conduit = program, baseline, conduit


MOODY_BULK = "moodycamel queue, enqueue_bulk of 64"
FLOOR = "bare atomic ping-pong (the floor), in turns"
SCENARIOS = [
    ("mem_1p1s", "memory, 1 producer → 1 subscriber, 64 B", MOODY, MEM,
     [("throughput", "throughput", "msgs")]),
    ("mem_fanout16", "memory, 1 producer → 16 subscribers, 64 B, one reader thread",
     MOODY + ", one per subscriber (fan-out by copying)", MEM + ["--subscribers", "16", "--reader-threads", "1"],
     [("throughput", "throughput", "msgs")]),
    ("mem_group2", "memory, work group of 2 consumers, 64 B, acked", MOODY + " shared by the consumers",
     MEM + ["--subscribers", "0", "--group-consumers", "2"], [("throughput", "throughput", "msgs")]),
    ("mem_1k", "memory, 1 producer → 1 subscriber, 1 KiB", MOODY,
     ["--durability", "memory", "--payload", "1K"], [("throughput", "throughput", "bytes")]),
    ("mem_open100k", "memory, open loop at 100k msg/s, 64 B", MOODY, MEM + ["--rate", "100k"],
     [("publish→receive p50", "p50", "p50"), ("publish→receive p99", "p99", "p99")]),
    ("sync_1", "sync, 1 producer, 64 B", RAW_SYNC,
     ["--durability", "sync", "--payload", "64", "--subscribers", "0", "--producers", "1"],
     [("throughput", "throughput", "msgs"), ("publish→durable p99", "p99", "p99")]),
    ("sync_16", "sync, 16 producers (group commit), 64 B", RAW_SYNC,
     ["--durability", "sync", "--payload", "64", "--subscribers", "0", "--producers", "16"],
     [("throughput", "throughput", "msgs"), ("publish→durable p99", "p99", "p99")]),
    ("async_64", "async, 1 producer, 64 B", RAW_ASYNC,
     ["--durability", "async", "--subscribers", "0", "--payload", "64"], [("payload bytes/s", "throughput", "bytes")]),
    ("async_1k", "async, 1 producer, 1 KiB", RAW_ASYNC,
     ["--durability", "async", "--subscribers", "0", "--payload", "1K"], [("payload bytes/s", "throughput", "bytes")]),
    ("batch_64", "memory, publish_batch of 64 × 64 B → 1 busy-spin subscriber", MOODY_BULK,
     GBench("engine_bench", "BM_MoodycamelBulk_1P1C", "BM_ConduitBatch_1P1S/busy_spin"),
     [("throughput", "throughput", "msgs")]),
    ("claim_1p1s", "memory, zero-copy claim/commit, 1 producer → 1 busy-spin subscriber, 64 B", MOODY,
     GBench("engine_bench", "BM_Moodycamel_1P1C", "BM_ConduitClaim_1P1S/busy_spin"),
     [("throughput", "throughput", "msgs")]),
    ("claim_ring", "bare claim ring, no log (bench/claim_ring.h: one fetch_add, a 64 B slot, a per-slot sequence), "
     "1 producer → 1 busy-spin consumer", MOODY, GBench("engine_bench", "BM_Moodycamel_1P1C", "BM_ClaimRing_1P1C"),
     [("throughput", "throughput", "msgs")]),
    ("claim_ring_batch", "bare claim ring, no log, one fetch_add per 64 slots (64 × 64 B), 1 producer → 1 busy-spin "
     "consumer", MOODY_BULK, GBench("engine_bench", "BM_MoodycamelBulk_1P1C", "BM_ClaimRingBatch_1P1C"),
     [("throughput", "throughput", "msgs")]),
    ("claim_vs_ring", "memory, zero-copy claim/commit, 1 producer → 1 busy-spin subscriber, 64 B", "bare claim ring (bench/claim_ring.h)",
     GBench("engine_bench", "BM_ClaimRing_1P1C", "BM_ConduitClaim_1P1S/busy_spin"),
     [("throughput", "throughput", "msgs")]),
    ("batch_vs_ring", "memory, publish_batch of 64 × 64 B → 1 busy-spin subscriber",
     "bare claim ring, one fetch_add per 64 slots", GBench("engine_bench", "BM_ClaimRingBatch_1P1C",
                                                           "BM_ConduitBatch_1P1S/busy_spin"),
     [("throughput", "throughput", "msgs")]),
    ("envelope_1p1s", "memory, publish(Message) one at a time, full envelope, 64 B payload, busy-spin subscriber",
     MOODY, GBench("engine_bench", "BM_Moodycamel_1P1C", "BM_ConduitEnvelope_1P1S/busy_spin"),
     [("throughput", "throughput", "msgs")]),
    ("ping_pong", "ping-pong through 2 memory topics, busy spin, 8 B", FLOOR, GBench("latency_bench", "BM_PingPong"),
     [("round trip p50", "p50", "rt_p50"), ("round trip p99.9 (median of 5 turns' ratios)", "p999", "rt_p999")]),
]


def side_figure(run, kind):
    """One side's own figure, as text: throughput or a latency percentile."""
    if run is None:
        return None
    if kind == "msgs":
        return run["msgs_per_s"], lambda v: (f"{v / 1e6:.3g} M msg/s" if v >= 1e6 else
                                             f"{v / 1e3:.3g} k msg/s" if v >= 1e3 else f"{v:.0f} msg/s")
    if kind == "bytes":
        return run["payload_bytes_per_s"], lambda v: f"{v / 1e9:.3g} GB/s" if v >= 1e9 else f"{v / 1e6:.3g} MB/s"
    if kind.startswith("rt_"):
        v = run["round_trip"][kind[3:] + "_ns"]
        return v, lambda ns: (f"{ns / 1e6:.3g} ms" if ns >= 1e6 else f"{ns / 1e3:.3g} µs" if ns >= 1e4 else
                              f"{ns:.0f} ns")
    lat = run["latency"]["publish_to_receive"] or run["latency"]["publish_to_durable"]
    if not lat:
        return None
    v = lat[f"{kind}_ns"]
    return v, lambda ns: f"{ns / 1e3:.3g} µs" if ns < 1e6 else f"{ns / 1e6:.3g} ms"


def fmt_ratio(v):
    return f"{v:.2f}" if v >= 0.1 else f"{v:.3f}"


def run_gbench(g, bench, duration):
    """One process run of a GBench: conduit-bench's JSON shape (ratios,
    conduit, baseline), the program's own JSON kept under "gbench"."""
    program = os.path.join(os.path.dirname(bench), g.program)
    names = [g.baseline] + ([g.conduit] if g.conduit else [])
    # The JSON goes to a file: latency_bench prints its own table on stdout.
    fd, out_path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    argv = [program, "--benchmark_out=" + out_path, "--benchmark_out_format=json",
            "--benchmark_filter=^(" + "|".join(names) + ")/"]
    env = dict(os.environ)
    if g.conduit:
        argv.append(f"--benchmark_min_time={duration:g}")
    else:  # 50,000 round trips per turn and kind at --duration 2
        env["CONDUIT_PINGPONG_TRIPS"] = str(max(1000, int(25000 * duration)))
    try:
        p = subprocess.run(argv, capture_output=True, text=True, env=env)
        with open(out_path) as f:
            out = json.load(f) if p.returncode == 0 else None
    except (OSError, ValueError):
        out = None
    finally:
        os.unlink(out_path)
    if out is None:
        return p, None
    got = {b["name"].split("/real_time")[0].split("/iterations")[0]: b for b in out["benchmarks"]
           if not b.get("error_occurred")}
    if any(n not in got for n in names):
        return p, None
    if g.conduit:
        base, mine = got[g.baseline]["items_per_second"], got[g.conduit]["items_per_second"]
        run = {"ratios": {"throughput": mine / base}, "conduit": {"msgs_per_s": mine},
               "baseline": {"msgs_per_s": base}}
    else:
        c = got[g.baseline]
        run = {"ratios": {"p50": c["conduit_p50_ratio"], "p999": c["conduit_p999_ratio_median"]},
               "conduit": {"round_trip": {"p50_ns": c["conduit_p50"], "p999_ns": c["conduit_p999"]}},
               "baseline": {"round_trip": {"p50_ns": c["floor_p50"], "p999_ns": c["floor_p999"]}}}
    run["gbench"] = {"argv": [g.program] + argv[3:], "context": out["context"], "benchmarks": out["benchmarks"]}
    return p, run


def run_all(args):
    bench = args.bench
    if not os.access(bench, os.X_OK):
        print(f"results_table: no conduit-bench at {bench} (cmake --build build --target conduit-bench)",
              file=sys.stderr)
        return None
    load_start = open("/proc/loadavg").read().split()[:3]
    t0 = time.monotonic()
    runs = {key: [] for key, *_ in SCENARIOS}
    failed = 0
    extra = ["--dir", args.dir] if args.dir else []
    for rep in range(args.repeats):
        for key, _, _, cmd, _ in SCENARIOS:
            print(f"results_table: [{rep + 1}/{args.repeats}] {key}", file=sys.stderr)
            if isinstance(cmd, GBench):
                p, out = run_gbench(cmd, bench, args.duration)
            else:
                argv = [bench, "--json", "--no-progress", "--duration", str(args.duration)] + cmd + extra
                p = subprocess.run(argv, capture_output=True, text=True)
                try:
                    out = json.loads(p.stdout)
                except ValueError:
                    out = None
            if p.returncode != 0 or out is None:
                failed += 1
                print(f"results_table: {key} exited {p.returncode}: {p.stderr.strip()[-400:]}", file=sys.stderr)
                continue
            runs[key].append(out)
    meta = {
        "command": " ".join(["python3", "bench/results_table.py"] + [shlex.quote(a) for a in args.passed]),
        "duration_s": args.duration,
        "repeats": args.repeats,
        "load_start": " ".join(load_start),
        "load_end": " ".join(open("/proc/loadavg").read().split()[:3]),
        "wall_s": round(time.monotonic() - t0),
    }
    print(f"results_table: {sum(map(len, runs.values()))} runs in {meta['wall_s']} s, {failed} failed",
          file=sys.stderr)
    return {"meta": meta, "runs": runs}, failed


def table(data, data_path):
    """The Markdown between the markers, from the kept JSON."""
    meta, runs = data["meta"], data["runs"]
    # conduit-bench's runs carry the machine record (the GBench rows' do not).
    first = next((r[0] for r in runs.values() if r and "machine" in r[0]), None)
    if first is None:
        raise ValueError("the JSON holds no conduit-bench run")
    m = first["machine"]
    # Memory-only runs have no data directory, so no filesystem of their own.
    fs = next((r[0]["machine"]["filesystem"] for r in runs.values()
               if r and "machine" in r[0] and r[0]["machine"]["filesystem"]), "?")
    runs_word = "run" if meta["repeats"] == 1 else "runs"
    kept = os.path.relpath(data_path, ROOT) if os.path.abspath(data_path).startswith(ROOT + os.sep) else data_path
    lines = [
        f"Measured {m['date_utc'][:10]} on {m['cpu']}, **{m['cores']} cores**, kernel {m['kernel']}, "
        f"data directories on {fs}; "
        f"load average {meta['load_start']} at the start, {meta['load_end']} at the end.\n"
        f"Command: `{meta['command']}` "
        f"({meta['repeats']} {runs_word} of {meta['duration_s']:g} s a side per scenario, {meta['wall_s']} s in all; "
        f"every run's JSON in `{kept}`). Each ratio is conduit ÷ baseline within one run "
        "(one process: conduit-bench, or engine_bench and latency_bench for the last rows), "
        "the median over the runs (their range in brackets): above 1 favours conduit for throughput, "
        "below 1 for latency.",
        "",
        "| scenario | same-run baseline | measure | conduit ÷ baseline | conduit | baseline |",
        "|---|---|---|---|---|---|",
    ]
    for key, scenario, baseline, _, measures in SCENARIOS:
        rs = runs.get(key, [])
        for measure, rkey, kind in measures:
            ratios = [r["ratios"][rkey] for r in rs if r["ratios"].get(rkey) is not None]
            if not ratios:
                lines.append(f"| {scenario} | {baseline} | {measure} | no run | | |")
                continue
            med = statistics.median(ratios)
            cell = fmt_ratio(med) + (f" ({fmt_ratio(min(ratios))}–{fmt_ratio(max(ratios))})" if len(ratios) > 1 else "")
            sides = []
            for side in ("conduit", "baseline"):
                vals = [side_figure(r[side], kind) for r in rs]
                vals = [v for v in vals if v is not None]
                sides.append(vals[0][1](statistics.median(v for v, _ in vals)) if vals else "")
            lines.append(f"| {scenario} | {baseline} | {measure} | {cell} | {sides[0]} | {sides[1]} |")
    return "\n".join(lines)


def splice(readme_text, body):
    b, e = readme_text.find(BEGIN), readme_text.find(END)
    if b < 0 or e < b:
        raise ValueError(f"README has no '{BEGIN}' ... '{END}' markers")
    return readme_text[:b + len(BEGIN)] + "\n" + body + "\n" + readme_text[e:]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="build/conduit-bench", help="the conduit-bench to run (default: build/conduit-bench)")
    ap.add_argument("--duration", type=float, default=1.0, help="seconds per run, each side (default 1)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per scenario (default 3)")
    ap.add_argument("--dir", help="passed to conduit-bench --dir (where data directories go)")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "table.json"),
                    help="the kept runs (default: bench/results/table.json)")
    ap.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    ap.add_argument("--from-json", action="store_true", help="write the table from --json without running")
    ap.add_argument("--check", action="store_true", help="exit 1 when the README's table differs from --json's")
    args = ap.parse_args()
    args.passed = [a for a in sys.argv[1:] if a not in ("--from-json", "--check")]
    if args.repeats < 1 or args.duration <= 0:
        ap.error("--repeats and --duration must be positive")

    failed = 0
    if args.from_json or args.check:
        with open(args.json) as f:
            data = json.load(f)
    else:
        got = run_all(args)
        if got is None:
            return 2
        data, failed = got
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
    with open(args.readme) as f:
        text = f.read()
    new = splice(text, table(data, args.json))
    if args.check:
        if new != text:
            print(f"results_table: the table in {args.readme} is not the one {args.json} gives; "
                  "rewrite it with bench/results_table.py --from-json", file=sys.stderr)
            return 1
        return 0
    with open(args.readme, "w") as f:
        f.write(new)
    print(f"results_table: table written to {args.readme}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError, KeyError) as e:
        print(f"results_table: {e}", file=sys.stderr)
        sys.exit(1)
