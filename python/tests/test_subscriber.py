"""Topic.subscribe and Subscriber: starts, waits, positions, commits, losses."""

import threading
import time

import pytest

import conduit

from conftest import SMALL


def test_start_latest_earliest_sequence_and_time(engine):
    t = engine.create_topic("t")
    for i in range(3):
        t.publish(b"old%d" % i)
    latest = t.subscribe()
    earliest = t.subscribe(start="earliest")
    at_one = t.subscribe(start=1)
    t.publish(b"new", timestamp_ns=10**19 // 2)
    by_time = t.subscribe(start="earliest", start_time_ns=10**19 // 2)
    assert [r.sequence for r in latest.poll()] == [3]
    assert [r.sequence for r in earliest.poll()] == [0, 1, 2, 3]
    assert [r.sequence for r in at_one.poll()] == [1, 2, 3]
    assert [r.sequence for r in by_time.poll()] == [3]


def test_poll_without_records_returns_an_empty_batch_after_the_timeout(engine):
    sub = engine.create_topic("t").subscribe()
    assert len(sub.poll()) == 0
    start = time.monotonic()
    batch = sub.poll(timeout=0.2)
    assert len(batch) == 0 and batch.lost == 0 and not batch.closed
    assert time.monotonic() - start >= 0.19


def test_a_waiting_poll_lets_other_threads_run(engine):
    t = engine.create_topic("t")
    sub = t.subscribe()
    got = []
    # The poll waits without the GIL: this thread publishes meanwhile.
    reader = threading.Thread(target=lambda: got.extend(r.sequence for r in sub.poll(timeout=None)))
    reader.start()
    time.sleep(0.05)
    t.publish(b"wake")
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert got == [0]


def test_one_thread_at_a_time(engine):
    t = engine.create_topic("t")
    sub = t.subscribe()
    got = []
    first = threading.Thread(target=lambda: got.extend(sub.poll(timeout=None)))
    first.start()
    # Once the first thread is inside its poll, a second caller is refused.
    refused = None
    deadline = time.monotonic() + 10
    while refused is None and time.monotonic() < deadline:
        try:
            sub.poll()
        except RuntimeError as e:
            refused = str(e)
        time.sleep(0.01)
    t.publish(b"end")
    first.join(timeout=10)
    assert refused is not None and "another thread" in refused
    assert len(got) == 1


def test_max_records_bounds_a_batch(engine):
    t = engine.create_topic("t")
    sub = t.subscribe()
    t.publish_batch([b"x"] * 10)
    assert len(sub.poll(max_records=4)) == 4
    assert len(sub.poll(max_records=100)) == 6
    with pytest.raises(conduit.InvalidArgumentError):
        sub.poll(max_records=0)


def test_a_named_subscriber_resumes_from_its_commit(data_dir):
    with conduit.Engine(data_dir) as e:
        t = e.create_topic("t", durability="async", **SMALL)
        t.publish_batch([b"r%d" % i for i in range(6)])
        with t.subscribe(name="audit", start="earliest") as sub:
            assert len(sub.poll(max_records=4)) == 4
            sub.commit()
            with pytest.raises(conduit.InvalidArgumentError):
                sub.commit(99)
    with conduit.Engine(data_dir) as e:
        with e.topic("t").subscribe(name="audit") as sub:
            assert [r.sequence for r in sub.poll()] == [4, 5]


def test_commit_needs_a_name(engine):
    sub = engine.create_topic("t", durability="async", **SMALL).subscribe()
    with pytest.raises(conduit.InvalidArgumentError):
        sub.commit()


def test_lose_oldest_reports_the_exact_loss():
    with conduit.Engine() as e:
        t = e.create_topic("t", segment_bytes=160 << 10, ring_bytes=320 << 10, max_payload_bytes=1024)
        sub = t.subscribe(slow="lose_oldest")
        for _ in range(2000):
            t.publish(b"p" * 1000)
        batch = sub.poll(max_records=10)
        assert batch.lost > 0
        assert batch[0].sequence == batch.lost
        assert sub.lost == batch.lost


def test_a_closed_subscriber_raises(engine):
    sub = engine.create_topic("t").subscribe()
    sub.close()
    assert sub.closed
    with pytest.raises(conduit.ClosedError):
        sub.poll()
