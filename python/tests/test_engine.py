"""conduit.Engine: topics, options, close."""

import pytest

import conduit

from conftest import SMALL


def test_topics_are_created_listed_found_and_deleted(engine):
    t = engine.create_topic("orders", durability="sync", **SMALL)
    assert t.name == "orders"
    assert t.durability == "sync"
    engine.create_topic("memo")
    assert engine.topics() == ["memo", "orders"]
    assert engine.topic("orders").name == "orders"
    # Same options: the same topic; different ones: refused, naming the option.
    engine.create_topic("orders", durability="sync", **SMALL)
    with pytest.raises(conduit.AlreadyExistsError, match="durability"):
        engine.create_topic("orders", durability="async", **SMALL)
    engine.delete_topic("memo")
    assert engine.topics() == ["orders"]
    with pytest.raises(conduit.NotFoundError):
        engine.delete_topic("memo")


def test_a_shared_memory_only_topic_reports_shared_and_the_engine_holds_to_it(engine):
    t = engine.create_topic("shm", shared=True, ring_bytes=4 * SMALL["segment_bytes"], **SMALL)
    assert t.shared
    assert engine.topic("shm").shared
    assert not engine.create_topic("local").shared
    # The option is the engine's: opening the topic again without it is refused, naming it.
    with pytest.raises(conduit.AlreadyExistsError, match="shared"):
        engine.create_topic("shm", ring_bytes=4 * SMALL["segment_bytes"], **SMALL)
    sub = t.subscribe(start="earliest")
    t.publish(b"in a memfd")
    assert [bytes(r.payload) for r in sub.poll(timeout=1.0)] == [b"in a memfd"]
    sub.close()


def test_delete_topic_is_busy_while_a_subscriber_is_open(engine):
    t = engine.create_topic("t")
    sub = t.subscribe()
    with pytest.raises(conduit.BusyError):
        engine.delete_topic("t")
    sub.close()
    engine.delete_topic("t")


def test_a_persisted_topic_is_there_after_a_reopen(data_dir):
    with conduit.Engine(data_dir) as e:
        t = e.create_topic("log", durability="async", **SMALL)
        for i in range(10):
            t.publish(b"x%d" % i)
        assert "io_uring" in e.disk_io or "syscall" in e.disk_io
    with conduit.Engine(data_dir) as e:
        t = e.topic("log")
        assert t.published == 10
        assert t.recovery_stats().clean
        assert [bytes(r.payload) for r in t.subscribe(start="earliest").poll()] == [b"x%d" % i for i in range(10)]


def test_memory_only_engine_refuses_persisted_topics():
    with conduit.Engine() as e:
        assert e.disk_io == ""
        with pytest.raises(conduit.Error):
            e.create_topic("t", durability="sync", **SMALL)


def test_after_close_handles_raise_closed(data_dir):
    e = conduit.Engine(data_dir)
    t = e.create_topic("t", durability="async", **SMALL)
    sub = t.subscribe()
    e.close()
    assert e.closed
    e.close()  # idempotent
    with pytest.raises(conduit.ClosedError):
        t.publish(b"late")
    with pytest.raises(conduit.ClosedError):
        e.create_topic("u")
    assert sub.poll().closed


def test_now_ns_is_the_wall_clock():
    import time

    with conduit.Engine() as e:
        assert abs(e.now_ns() - time.time_ns()) < 10**9
