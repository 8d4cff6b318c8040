"""LogReader: a Python process following a topic that another process, a
C++ program (python/tests/writer.cpp), writes; and in-process uses."""

import os
import subprocess
import time

import pytest

import conduit

from conftest import SMALL


def test_follows_a_topic_a_cpp_process_writes(data_dir, writer):
    count = 3000
    # Under ASan the interpreter runs with the sanitizer's runtime preloaded
    # (CMakeLists.txt); the writer brings its own, which clang links in
    # statically, and two runtimes in one process refuse to start.
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    proc = subprocess.Popen(
        [writer, str(data_dir), "orders", str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout.readline().strip() == "created"
        reader = conduit.LogReader(data_dir, "orders", start="earliest")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        got = []
        deadline = time.monotonic() + 60
        while len(got) < count and time.monotonic() < deadline:
            for rec in reader.poll(max_records=256, timeout=0.5):
                i = rec.sequence
                assert bytes(rec.payload) == b"record %d" % i
                assert rec.key == "k%d" % (i % 4)
                assert rec.headers == {"i": str(i)}
                got.append(i)
        assert got == list(range(count))
        assert proc.wait(timeout=30) == 0
        assert proc.stdout.readline().strip() == "published %d" % count
        deadline = time.monotonic() + 10
        while not reader.writer_closed and time.monotonic() < deadline:
            reader.poll(timeout=0.1)
        assert reader.writer_closed
        assert reader.position == count and reader.lost == 0
        reader.close()
    finally:
        proc.kill()
        proc.wait()


def test_a_missing_topic_is_not_found(data_dir):
    with conduit.Engine(data_dir):
        pass
    with pytest.raises(conduit.NotFoundError):
        conduit.LogReader(data_dir, "nope")


def test_a_named_reader_resumes_and_views_end_at_the_next_poll(data_dir):
    with conduit.Engine(data_dir) as e:
        t = e.create_topic("t", durability="sync", **SMALL)
        t.publish_batch([b"a", b"b", b"c"])
        with conduit.LogReader(data_dir, "t", start="earliest", name="r") as r:
            first = r.poll(max_records=2)
            view = first[0].payload
            assert bytes(view) == b"a"
            r.commit()
            assert [rec.sequence for rec in r.poll()] == [2]
            with pytest.raises(ValueError):
                bytes(view)
        with conduit.LogReader(data_dir, "t", name="r") as r:
            assert [rec.sequence for rec in r.poll()] == [2]
            assert r.writer_restarts == 0
