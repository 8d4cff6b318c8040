#!/usr/bin/env python3
"""tools/bench-plot (ctest bench_plot_test): it reads one conduit-bench
--json output as well as its own series; it ends quietly when its reader
goes away; `run --repeats` keeps every run of a point, and tables and plots
give the median, the spread where runs disagree, and how many runs of how
long; a plot of whole producers has a tic at each and none between.

BENCH_PLOT (tools/bench-plot) and CONDUIT_BENCH (the built conduit-bench)
come from the environment. The runs are short (0.2 s a side) and no figure
is asserted, only where each one goes.
"""
import copy
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

BENCH_PLOT = os.environ["BENCH_PLOT"]
BENCH = os.environ["CONDUIT_BENCH"]


def module():
    loader = importlib.machinery.SourceFileLoader("bench_plot", BENCH_PLOT)
    m = importlib.util.module_from_spec(importlib.util.spec_from_loader("bench_plot", loader))
    loader.exec_module(m)
    return m


def tool(*args, stdout=subprocess.PIPE):
    return subprocess.run([sys.executable, BENCH_PLOT, *args], stdout=stdout, stderr=subprocess.PIPE, text=True)


class BenchPlot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="bench-plot-test-")
        os.makedirs(os.path.join(cls.tmp, "one"))
        cls.one = os.path.join(cls.tmp, "one", "memory-run.json")
        p = subprocess.run([BENCH, "--json", "--no-progress", "--duration", "0.2"], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"conduit-bench exited {p.returncode}: {p.stderr}")
        with open(cls.one, "w") as f:
            f.write(p.stdout)
        cls.series_dir = os.path.join(cls.tmp, "series")
        r = tool("run", "--bench", BENCH, "--series", "producers", "--duration", "0.2", "--repeats", "2",
                 "--out", cls.series_dir)
        if r.returncode != 0:
            raise RuntimeError(f"bench-plot run exited {r.returncode}: {r.stderr}")
        cls.m = module()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_one_conduit_bench_output_is_a_table(self):
        with open(self.one) as f:
            data = json.load(f)
        fmt = self.m.fmt
        row = (f"| M msg/s | {fmt(data['conduit']['msgs_per_s'] / 1e6)} | {fmt(data['baseline']['msgs_per_s'] / 1e6)} "
               f"| {fmt(data['ratios']['throughput'])} |")
        for path in (self.one, os.path.dirname(self.one)):  # the file, or a directory of them
            r = tool("table", path)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("| | conduit | moodycamel | conduit ÷ baseline |", r.stdout)
            self.assertIn(row, r.stdout)
            self.assertIn("one run of 0.2 s per side", r.stdout)
            # Closed loop: conduit-bench printed no latency ratio, nor does the table.
            self.assertRegex(r.stdout, r"\| publish_to_receive p99 us \| [^|]+ \| [^|]+ \|  \|\n")
            self.assertIn("Latency ratios: none in closed loop", r.stdout)

    def test_nothing_to_read_is_an_error(self):
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty, exist_ok=True)
        for cmd in ("table", "plot"):
            r = tool(cmd, empty)
            if cmd == "plot" and not shutil.which("gnuplot"):
                continue
            self.assertEqual(r.returncode, 1)
            self.assertIn(f"no series or conduit-bench --json output in {empty}", r.stderr)
        r = tool("table", os.path.join(self.tmp, "nowhere"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("nowhere: no such file or directory", r.stderr)
        stray = os.path.join(empty, "other.json")
        with open(stray, "w") as f:
            json.dump({"something": "else"}, f)
        r = tool("table", empty)
        self.assertIn(f"skipped {stray}: neither a bench-plot series nor a conduit-bench --json output", r.stderr)
        os.unlink(stray)

    def test_a_reader_that_goes_away_ends_it_quietly(self):
        # `bench-plot list | head`, the reader gone before the first write.
        read_end, write_end = os.pipe()
        os.close(read_end)
        r = tool("list", stdout=write_end)
        os.close(write_end)
        self.assertEqual(r.stderr, "")
        self.assertIn(r.returncode, (0, -13))  # 13: SIGPIPE, as for any other tool

    def test_repeats_are_kept_and_counted(self):
        with open(os.path.join(self.series_dir, "producers.json")) as f:
            s = json.load(f)
        self.assertEqual(s["repeats"], 2)
        self.assertEqual([p["x"] for p in s["points"]], [1, 2, 4])
        for p in s["points"]:
            self.assertEqual(len(p["results"]), 2)
            for run in p["results"]:
                self.assertEqual(run["config"]["duration_s"], 0.2)
                self.assertEqual(run["config"]["producers"], p["x"])
        r = tool("table", self.series_dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("2 runs of 0.2 s per side per point; each figure the median of its runs", r.stdout)

    def test_runs_that_disagree_are_shown(self):
        Cell = self.m.Cell
        self.assertTrue(Cell([1.0, 1.1, 5.0]).disagrees())
        self.assertFalse(Cell([1.0, 1.1, 1.2]).disagrees())
        self.assertFalse(Cell([5.0]).disagrees())
        self.assertEqual(Cell([3.0, 1.0, 2.0]).med, 2.0)
        with open(os.path.join(self.series_dir, "producers.json")) as f:
            measured = json.load(f)
        # A copy whose runs agree (the second a copy of the first), and one
        # where the first point's second run says 4 times the first's.
        for factor, flagged in ((1, False), (4, True)):
            s = copy.deepcopy(measured)
            for p in s["points"]:
                p["results"][1] = copy.deepcopy(p["results"][0])
            first = s["points"][0]["results"]
            first[1]["conduit"]["msgs_per_s"] = first[0]["conduit"]["msgs_per_s"] * factor
            d = os.path.join(self.tmp, f"factor-{factor}")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "producers.json"), "w") as f:
                json.dump(s, f)
            r = tool("table", d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual("differ by more than 25% of the median" in r.stdout, flagged, r.stdout)
            row = next(line for line in r.stdout.splitlines() if line.startswith("| 1 |"))
            self.assertEqual("[" in row.split("|")[2], flagged, row)

    def test_plot_of_whole_producers_has_a_tic_at_each_and_bars(self):
        series, _ = self.m.load(self.series_dir)
        with tempfile.NamedTemporaryFile("w", suffix=".dat") as dat:
            script = "\n".join(self.m.series_plot(series[0], dat))
        self.assertIn("set xtics ('1' 1, '2' 2, '4' 4)", script)
        self.assertIn("with yerrorlines", script)
        self.assertIn("2 runs of 0.2 s per side per point; the median, bars from the least to the greatest", script)

    @unittest.skipUnless(shutil.which("gnuplot"), "gnuplot is not installed (scripts/setup.sh installs it)")
    def test_plot_writes_png_and_svg(self):
        for path, stem in ((self.series_dir, os.path.join(self.series_dir, "producers")),
                           (self.one, self.one[:-len(".json")])):
            r = tool("plot", path)
            self.assertEqual(r.returncode, 0, r.stderr)
            for ext in ("png", "svg"):
                self.assertGreater(os.path.getsize(f"{stem}.{ext}"), 1000)
        with open(os.path.join(self.series_dir, "producers.svg")) as f:
            self.assertIn("2 runs of 0.2 s per side per point", f.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
