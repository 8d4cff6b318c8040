"""Work groups: competing consumers, ack, nack, fail, dead letters, stats."""

import pytest

import conduit

from conftest import SMALL


def test_ack_nack_and_redelivery(engine):
    t = engine.create_topic("jobs")
    group = t.work_group("workers")
    t.publish_batch([b"job%d" % i for i in range(3)])
    with group.consumer(name="c1") as c:
        batch = c.poll(timeout=1.0)
        assert [d.sequence for d in batch] == [0, 1, 2]
        assert all(d.attempt == 1 for d in batch)
        assert bytes(batch[0].payload) == b"job0"
        assert c.ack(batch[0])
        assert not c.ack(batch[0])  # answered already
        assert c.nack(batch[1])
        assert c.ack(batch[2])
        (again,) = c.poll(timeout=1.0)
        assert again.sequence == 1 and again.attempt == 2
        assert bytes(again.payload) == b"job1"
        s = group.stats()
        assert s.in_flight == 1 and s.redelivered == 1
        assert c.ack(again)
        group.wait_drained(timeout=5.0)
        s = group.stats()
        assert s.ack_floor == 3 and s.in_flight == 0 and s.depth == 0
        assert group.lag == 0


def test_a_delivery_view_ends_at_its_ack(engine):
    t = engine.create_topic("jobs")
    group = t.work_group("g")
    t.publish(b"payload")
    c = group.consumer()
    (d,) = c.poll()
    view = d.payload
    part = view[0:3]
    with pytest.raises(BufferError):
        c.ack(d)  # a slice still holds the bytes: not acked
    assert group.stats().in_flight == 1
    part.release()
    assert c.ack(d)
    with pytest.raises(ValueError):
        bytes(view)
    with pytest.raises(ValueError):
        d.key


def test_dead_letters_carry_the_reason(engine):
    t = engine.create_topic("jobs")
    group = t.work_group("g", max_attempts=2, dead_letter_topic="jobs.dead")
    dead = engine.topic("jobs.dead").subscribe(start="earliest")
    t.publish_batch([b"poison", b"rejected", b"failing"])
    c = group.consumer()
    poison, rejected, failing = c.poll()
    assert c.dead_letter(rejected, "bad input")
    assert c.fail(failing, "boom")
    assert c.nack(poison, delay=0.0)
    for d in c.poll(timeout=1.0):  # second attempts: the last ones allowed
        assert d.attempt == 2
        assert c.nack(d)
    letters = {bytes(r.payload): r.headers for r in dead.poll(timeout=1.0)}
    while len(letters) < 3:
        batch = dead.poll(timeout=1.0)
        assert len(batch) > 0
        letters.update({bytes(r.payload): r.headers for r in batch})
    assert letters[b"rejected"]["conduit.dlq.reason"] == "rejected"
    assert letters[b"rejected"]["conduit.dlq.error"] == "bad input"
    assert letters[b"poison"]["conduit.dlq.reason"] == "max-attempts"
    # fail() was its first failure; the last was the second delivery's nack.
    assert letters[b"failing"]["conduit.dlq.reason"] == "max-attempts"
    assert letters[b"failing"]["conduit.dlq.attempts"] == "2"
    assert letters[b"poison"]["conduit.dlq.last-failure"] == "nack"
    assert group.stats().dead_lettered == 3


def test_competing_consumers_split_the_records(engine):
    t = engine.create_topic("jobs")
    group = t.work_group("g")
    t.publish_batch([b"x"] * 10)
    a, b = group.consumer(), group.consumer()
    first = a.poll(max_records=4)
    second = b.poll(max_records=100)
    assert sorted(d.sequence for d in list(first) + list(second)) == list(range(10))
    with pytest.raises(ValueError, match="another consumer"):
        a.ack(second[0])


def test_a_persisted_group_resumes_after_commit(data_dir):
    with conduit.Engine(data_dir) as e:
        t = e.create_topic("jobs", durability="sync", **SMALL)
        t.publish_batch([b"a", b"b", b"c"])
        group = t.work_group("g")
        with group.consumer() as c:
            first = c.poll(max_records=1)[0]
            assert c.ack(first)
        group.commit()
    with conduit.Engine(data_dir) as e:
        with e.topic("jobs").work_group("g").consumer() as c:
            assert [d.sequence for d in c.poll(timeout=1.0)] == [1, 2]


def test_wait_drained_times_out_while_records_are_open(engine):
    t = engine.create_topic("jobs")
    group = t.work_group("g")
    t.publish(b"x")
    with pytest.raises(conduit.TimedOutError):
        group.wait_drained(timeout=0.05)
