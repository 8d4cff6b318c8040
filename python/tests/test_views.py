"""Payloads are memoryviews of the mapped log: zero copy, read-only, and
released at the reader's next poll."""

import os

import pytest

import conduit

from conftest import SMALL


def mapping_of(address):
    """The /proc/self/maps line whose range holds address."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= address < hi:
                return line
    return None


def test_the_payload_view_is_the_record_in_the_mapped_segment_file(engine, data_dir):
    t = engine.create_topic("zc", durability="async", **SMALL)
    sub = t.subscribe()
    t.publish(b"zero copy payload")
    (rec,) = sub.poll(timeout=1.0)
    view = rec.payload
    assert isinstance(view, memoryview)
    address = conduit._conduit._buffer_address(view)
    # The same bytes the C++ RecordView points at, not a copy of them.
    assert address == rec._payload_address
    # ... and they lie in the topic's segment file, mapped.
    line = mapping_of(address)
    assert line is not None
    assert os.path.join(str(data_dir), "topics", "zc") in line
    assert bytes(view) == b"zero copy payload"


def test_the_payload_view_is_read_only(engine):
    t = engine.create_topic("t")
    sub = t.subscribe()
    t.publish(b"abc")
    (rec,) = sub.poll()
    assert rec.payload.readonly
    with pytest.raises(TypeError):
        rec.payload[0] = 0


def test_views_are_released_by_the_next_poll(engine):
    t = engine.create_topic("t")
    sub = t.subscribe()
    t.publish(b"one", key="k")
    (rec,) = sub.poll()
    view = rec.payload
    kept = bytes(view)
    sub.poll()
    with pytest.raises(ValueError):
        bytes(view)
    with pytest.raises(ValueError):
        rec.payload
    with pytest.raises(ValueError):
        rec.key
    # What was copied, and the copied fields, stay.
    assert kept == b"one"
    assert rec.sequence == 0


def test_a_held_slice_stops_the_next_poll(engine):
    t = engine.create_topic("t")
    sub = t.subscribe()
    t.publish(b"abcdef")
    (rec,) = sub.poll()
    part = rec.payload[1:3]
    with pytest.raises(BufferError, match="still held"):
        sub.poll()
    assert bytes(part) == b"bc"  # still valid: the poll did not move on
    part.release()
    t.publish(b"next")
    assert [bytes(r.payload) for r in sub.poll()] == [b"next"]


def test_a_view_outlives_a_dropped_subscriber_safely(engine):
    t = engine.create_topic("t")
    sub = t.subscribe()
    t.publish(b"kept alive")
    view = sub.poll()[0].payload
    del sub  # the view holds the subscriber, and so its mapping
    assert bytes(view) == b"kept alive"


def test_close_releases_the_views(engine):
    t = engine.create_topic("t")
    sub = t.subscribe()
    t.publish(b"x")
    view = sub.poll()[0].payload
    sub.close()
    with pytest.raises(ValueError):
        bytes(view)
