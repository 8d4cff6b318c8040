#!/usr/bin/env python3
"""bench/results_table.py (ctest results_table_test): short real runs of
conduit-bench (and of engine_bench and latency_bench, built beside it)
fill the table between the markers and nothing else; each
ratio is the median of the runs' own ratios with their range; a Google
Benchmark row's ratio comes from one process run of both sides; --check
tells a hand-edited table from a generated one; a README without markers
is refused and left alone; and the repository's README holds the table
that bench/results/table.json gives.

RESULTS_TABLE (bench/results_table.py) and CONDUIT_BENCH (the built
conduit-bench) come from the environment. No figure is asserted, only
where each one goes and how it is computed.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.environ["RESULTS_TABLE"]
BENCH = os.environ["CONDUIT_BENCH"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(SCRIPT)))

BEGIN = "<!-- results-table:begin -->"
END = "<!-- results-table:end -->"
BEFORE = "# a README\n\ntext above\n\n"
AFTER = "\n\ntext below\n"


def script(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


def rows(text):
    """The table's data rows, as lists of cells."""
    inside = text[text.index(BEGIN):text.index(END)]
    out = []
    for line in inside.splitlines():
        if line.startswith("| ") and not line.startswith("| scenario") and not line.startswith("|---"):
            out.append([c.strip() for c in line.strip("|").split("|")])
    return out


class ResultsTable(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="results_table_test.")
        cls.readme = os.path.join(cls.tmp, "README.md")
        cls.json = os.path.join(cls.tmp, "table.json")
        with open(cls.readme, "w") as f:
            f.write(BEFORE + BEGIN + "\nan old table\n" + END + AFTER)
        cls.result = script("--bench", BENCH, "--duration", "0.2", "--repeats", "3", "--dir", cls.tmp,
                         "--json", cls.json, "--readme", cls.readme)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def text(self):
        with open(self.readme) as f:
            return f.read()

    def test_run_fills_only_the_markers(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        text = self.text()
        self.assertTrue(text.startswith(BEFORE + BEGIN + "\n"))
        self.assertTrue(text.endswith("\n" + END + AFTER))
        self.assertNotIn("an old table", text)

    def test_each_ratio_is_the_median_of_its_runs(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        with open(self.json) as f:
            data = json.load(f)
        sys.path.insert(0, os.path.dirname(SCRIPT))
        import results_table
        got = rows(self.text())
        # By the scenario's key: two rows may share a scenario against different baselines.
        expected = [(s[0], s[1], m[0], m[1]) for s in results_table.SCENARIOS for m in s[4]]
        self.assertEqual([r[0] for r in got], [e[1] for e in expected])
        for (name, scenario, measure, key), row, in zip(expected, got):
            runs = data["runs"][name]
            self.assertEqual(len(runs), 3, scenario)
            ratios = [r["ratios"][key] for r in runs]
            self.assertNotIn(None, ratios, f"{scenario}: {measure}")
            self.assertEqual(row[2], measure)
            median = results_table.fmt_ratio(statistics.median(ratios))
            low, high = results_table.fmt_ratio(min(ratios)), results_table.fmt_ratio(max(ratios))
            self.assertEqual(row[3], f"{median} ({low}–{high})", f"{scenario}: {measure}")
            self.assertTrue(row[4] and row[5], f"{scenario}: both sides' own figures")

    def test_gbench_ratios_come_from_one_process(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        with open(self.json) as f:
            data = json.load(f)
        sys.path.insert(0, os.path.dirname(SCRIPT))
        import results_table
        gbench = [s for s in results_table.SCENARIOS if isinstance(s[3], results_table.GBench)]
        self.assertTrue(gbench)
        for key, _, _, g, _ in gbench:
            for run in data["runs"][key]:
                got = {b["name"]: b for b in run["gbench"]["benchmarks"]}
                base = got[next(n for n in got if n.startswith(g.baseline + "/"))]
                if g.conduit:
                    mine = got[next(n for n in got if n.startswith(g.conduit + "/"))]
                    self.assertAlmostEqual(run["ratios"]["throughput"],
                                           mine["items_per_second"] / base["items_per_second"], msg=key)
                else:  # the ping-pong: conduit and the floor in turns, one benchmark
                    self.assertEqual(len(got), 1, key)
                    self.assertAlmostEqual(run["ratios"]["p50"], base["conduit_p50"] / base["floor_p50"], msg=key)
                    self.assertEqual(run["ratios"]["p999"], base["conduit_p999_ratio_median"], key)

    def test_header_names_machine_cores_and_command(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        with open(self.json) as f:
            machine = json.load(f)["runs"]["mem_1p1s"][0]["machine"]
        text = self.text()
        self.assertIn(f"Measured {machine['date_utc'][:10]} on {machine['cpu']}, **{machine['cores']} cores**", text)
        self.assertRegex(text, r"Command: `python3 bench/results_table.py [^`]*--duration 0\.2 --repeats 3")

    def test_check_tells_a_hand_edit(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        self.assertEqual(script("--check", "--json", self.json, "--readme", self.readme).returncode, 0)
        text = self.text()
        edited = text.replace("| memory, 1 producer", "| memory, one producer", 1)
        self.assertNotEqual(edited, text)
        with open(self.readme, "w") as f:
            f.write(edited)
        bad = script("--check", "--json", self.json, "--readme", self.readme)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("--from-json", bad.stderr)
        self.assertEqual(script("--from-json", "--json", self.json, "--readme", self.readme).returncode, 0)
        self.assertEqual(self.text(), text)

    def test_a_readme_without_markers_is_refused_and_kept(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        plain = os.path.join(self.tmp, "plain.md")
        with open(plain, "w") as f:
            f.write("no markers here\n")
        bad = script("--from-json", "--json", self.json, "--readme", plain)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("markers", bad.stderr)
        with open(plain) as f:
            self.assertEqual(f.read(), "no markers here\n")

    def test_the_repository_readme_holds_the_kept_table(self):
        got = script("--check", "--json", os.path.join(ROOT, "bench", "results", "table.json"),
                     "--readme", os.path.join(ROOT, "README.md"))
        self.assertEqual(got.returncode, 0, got.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
