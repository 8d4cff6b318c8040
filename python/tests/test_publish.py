"""Topic.publish, publish_batch, publish_nowait, await_durable and stats."""

import threading
import time

import pytest

import conduit

from conftest import SMALL


def test_publish_returns_sequences_and_every_field_round_trips(engine):
    t = engine.create_topic("t")
    sub = t.subscribe()
    assert t.publish(b"first") == 0
    seq = t.publish(
        bytearray(b"second"),
        key="k",
        id="id-1",
        headers={"a": "1", "b": b"\xff"},
        correlation_id="c",
        reply_to="replies",
        trace_id="tr",
        content_type="text/plain",
        schema_version=7,
        timestamp_ns=1234,
    )
    assert seq == 1
    assert t.publish("text payload", headers=[("dup", "1"), ("dup", "2")]) == 2
    first, second, third = sub.poll(timeout=1.0)
    assert bytes(first.payload) == b"first" and first.key is None and first.headers == {}
    assert second.sequence == 1
    assert bytes(second.payload) == b"second"
    assert second.key == "k" and second.id == "id-1"
    assert second.correlation_id == "c" and second.reply_to == "replies"
    assert second.trace_id == "tr" and second.content_type == "text/plain"
    assert second.schema_version == 7 and second.timestamp_ns == 1234
    # Bytes that are not UTF-8 come back as the same bytes through surrogateescape.
    assert second.headers["b"].encode("utf-8", "surrogateescape") == b"\xff"
    assert bytes(third.payload) == b"text payload"
    assert third.header_list == [("dup", "1"), ("dup", "2")]
    assert third.headers == {"dup": "2"}
    assert third.timestamp_ns > 0


def test_publish_batch_returns_every_sequence(engine):
    t = engine.create_topic("t")
    t.publish(b"before")
    seqs = t.publish_batch([b"a", conduit.Message(b"b", key="kb"), memoryview(b"c")])
    assert seqs == [1, 2, 3]
    recs = t.subscribe(start="earliest").poll()
    assert [bytes(r.payload) for r in recs] == [b"before", b"a", b"b", b"c"]
    assert recs[2].key == "kb"


def test_a_bad_message_fails_the_whole_batch_naming_its_index(engine):
    t = engine.create_topic("t", max_payload_bytes=1024)
    with pytest.raises(conduit.TooLargeError) as info:
        t.publish_batch([b"ok", b"x" * 2048])
    assert info.value.published == 0
    assert info.value.sequences == []
    assert t.published == 0


def test_publish_refuses_bad_input(engine):
    t = engine.create_topic("t", max_payload_bytes=1024)
    with pytest.raises(conduit.TooLargeError, match="1025"):
        t.publish(b"x" * 1025)
    with pytest.raises(TypeError, match="colour"):
        t.publish(b"x", colour="red")
    with pytest.raises(TypeError):
        t.publish(12345)
    with pytest.raises(TypeError):
        t.publish(b"x", key=5)
    with pytest.raises(TypeError):
        conduit.Message(b"x", nope=1)
    assert t.published == 0


def test_sync_publish_is_durable_when_it_returns(engine):
    t = engine.create_topic("s", durability="sync", **SMALL)
    seq = t.publish(b"durable")
    assert t.durable > seq


def test_publish_nowait_then_await_durable(engine):
    t = engine.create_topic("s", durability="sync", **SMALL)
    seqs = [t.publish_nowait(b"n%d" % i) for i in range(20)]
    t.await_durable(seqs[-1], timeout=10.0)
    assert t.durable > seqs[-1]


def test_await_durable_is_unsupported_on_memory_topics(engine):
    t = engine.create_topic("m")
    with pytest.raises(conduit.UnsupportedError):
        t.await_durable(t.publish(b"x"), timeout=0.1)


def test_a_full_ring_times_out_then_a_reader_thread_frees_it():
    with conduit.Engine() as e:
        t = e.create_topic("ring", segment_bytes=160 << 10, ring_bytes=320 << 10, max_payload_bytes=1024)
        sub = t.subscribe()  # blocking: producers wait for it
        payload = b"p" * 1000
        n = 0
        with pytest.raises(conduit.TimedOutError):
            while True:
                t.publish(payload, timeout=0.05)
                n += 1
        assert 100 < n < 1000
        # A publish that waits releases the GIL: a reader thread drains the
        # ring meanwhile, and the publish completes.
        got = []

        def read():
            while len(got) < n + 1:
                got.extend(r.sequence for r in sub.poll(max_records=256, timeout=1.0))

        reader = threading.Thread(target=read)
        reader.start()
        assert t.publish(payload) == n
        reader.join(timeout=10)
        assert got == list(range(n + 1))


def test_stats_and_readers(engine):
    t = engine.create_topic("t", durability="async", **SMALL)
    sub = t.subscribe(name="audit", start="earliest")
    t.work_group("billing")
    for i in range(5):
        t.publish(b"x")
    s = t.stats()
    assert s.published == 5 and s.earliest == 0 and s.segments >= 1
    assert t.claimed == 5 and t.earliest == 0
    readers = t.readers()
    assert [(r.kind, r.name, r.lag) for r in readers] == [("subscriber", "audit", 5), ("work_group", "billing", 5)]
    assert not any(r.attached for r in readers)
    assert sub.lag == 5
    sub.poll(max_records=2)
    assert sub.lag == 3 and sub.position == 2


def test_stream_gap_makes_the_poll_after_a_streaming_poll_wait(engine):
    t = engine.create_topic("t", durability="memory", **SMALL)
    sub = t.subscribe(start="earliest", wait="busy_spin", stream_gap=0.5)
    for _ in range(3):
        t.publish(b"x")
    # Found at once, 3 of 8: the subscriber streams and sets the gap (from
    # a time after t0).
    t0 = time.monotonic()
    assert len(sub.poll(max_records=8, timeout=10)) == 3
    t.publish(b"y")
    assert len(sub.poll(max_records=8, timeout=10)) == 1
    assert time.monotonic() - t0 >= 0.5
