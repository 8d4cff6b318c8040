"""Drives conduit's Python module from a fuzzer's bytes (fuzz_python.cpp).

run(data, data_dir) reads `data` as a sequence of calls: create, find and
delete topics, publish (one, nowait, batches of payloads, Messages and
junk), subscribe and poll, work groups and their consumers' answers,
LogReaders, stats, closing and reopening the engine, and reading records
of a batch after the next poll released them. Every argument is drawn from
pools that mix right values with wrong types and values out of range.

The property: a call returns or raises what a bad argument may raise
(TypeError, ValueError and its subclasses, IndexError, BufferError for a
buffer the binding cannot read as contiguous bytes (Python's own error for
it, naming why: "memoryview: underlying buffer is not C-contiguous"),
conduit.Error with a code of conduit.CODES and a message). Any other exception escapes run() and
the fuzzer aborts with its traceback; a crash is caught by the sanitizers.
Blocking is avoided by construction: timeouts come from a pool of short or
invalid values, and subscribers never block producers ("lose_oldest").
"""

import gc
import math

import conduit

ALLOWED = (TypeError, ValueError, IndexError, BufferError, conduit.Error)

JUNK = [None, True, 0, 1, -1, 7, 2**31, 2**63, 2**64, -(2**63) - 1, 10**30, 0.5, -0.5, math.nan, math.inf,
        "", "x", "t", "\udcff", "é", b"", b"t", bytearray(b"ba"), memoryview(b"mv"), [], [("k", "v")],
        {"k": "v"}, {1: 2}, (1, 2), object()]
# Data directories that are no path (nothing is made in the working directory).
BAD_DIRS = [None, 1, 0.5, [], object(), {"k": "v"}]
NAMES = ["t", "log", "mem", "t.dlq", "", "a/b", ".x", "x" * 201, "é", "\udcff", b"t", 1, None]
INTS = [0, 1, 2, 3, 8, 64, 4096, 1 << 16, 1 << 20, -1, 2**63, 2**64, 1.5, "1", None]
TIMEOUTS = [0, 0.0, -1, 0.001, math.nan, math.inf, -math.inf, 1e300, "0", [], 2**70]
PAYLOADS = [b"", b"p", b"x" * 300, bytearray(b"ba"), memoryview(b"mv"), "text", "\udcff", None, 1, [b"a"],
            memoryview(b"abcdef")[::2]]
TOPIC_OPTIONS = {
    "durability": ["memory", "async", "sync", "bogus", 1],
    "segment_bytes": INTS,
    "ring_bytes": INTS,
    "max_payload_bytes": INTS,
    "retain_bytes": INTS,
    "retain_age": [0.0, 1.0, -1.0, math.nan, math.inf, "1"],
    "retain_until_consumed": [True, False, "yes"],
    "hard_cap_bytes": INTS,
    "dedup_max_ids": INTS,
    "dedup_max_age": [0.0, 1.0, math.nan, -1.0],
    "single_producer": [True, False, None],
    "bogus_option": [1],
}
MESSAGE_FIELDS = {
    "key": ["k", b"k", None, 1, "\udcff", "k" * 70000],
    "id": ["id1", "id2", b"", None, 3.5],
    "headers": [{"n": "1"}, [("a", "b"), ("a", "c")], {"n": 1}, [("a",)], [1], "ab", {b"n": b"v"}, None],
    "correlation_id": ["c", None, b"\xff"],
    "reply_to": ["r", 5],
    "trace_id": ["0123", None],
    "content_type": ["text/plain", []],
    "schema_version": [0, 1, -1, 2**32, 2**64, "1"],
    "timestamp_ns": [0, 1, -1, 2**63, 2**64, 1.5],
}
SUBSCRIBE = {
    "name": ["s1", "s2", "", "a/b", None, 1],
    "start": ["earliest", "latest", 0, 5, -1, 2**64, "bogus", 1.5, None],
    "start_time_ns": [0, 2**63, -1, None, "x"],
    "wait": ["adaptive", "park", "yield", "busy_spin", "bogus", 1],
    "durable_only": [True, False],
    "min_batch": INTS,
    "linger": [0.0, 0.001, -1.0, math.nan, math.inf],
}
WORK_GROUP = {
    "start": ["earliest", "latest", 0, 3, -1, "bogus"],
    "max_in_flight": INTS,
    "ack_timeout": [0.0, 0.001, 30.0, -1.0, math.nan, math.inf],
    "max_attempts": INTS,
    "backoff_base": [0.0, 0.001, -1.0, math.nan],
    "backoff_max": [0.0, 1.0, -1.0],
    "backoff_jitter": [0.0, 0.5, 1.0, 2.0, -0.1, math.nan],
    "dead_letter_topic": ["dlq", "", "a/b", None, 1],
    "on_failure": ["redeliver", "dead_letter", "bogus", 0],
}


class Input:
    def __init__(self, data):
        self.data = data
        self.i = 0

    def byte(self):
        if self.i >= len(self.data):
            return 0
        self.i += 1
        return self.data[self.i - 1]

    def left(self):
        return self.i < len(self.data)

    def pick(self, seq):
        return seq[self.byte() % len(seq)]

    def kwargs(self, options):
        names = sorted(options)
        kw = {}
        for _ in range(self.byte() % 4):
            name = self.pick(names)
            kw[name] = self.pick(options[name]) if self.byte() % 8 else self.pick(JUNK)
        return kw


def checked_call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except conduit.Error as e:
        assert e.code in conduit.CODES.values(), e.code
        assert e.code_name and e.message, repr(e)
        assert conduit.CODES[e.code_name] == e.code, repr(e)
    except ALLOWED:
        pass
    return None


def read_record(r):
    """Every field of a record; a released payload raises ValueError."""
    for field in ("sequence", "timestamp_ns", "key", "id", "correlation_id", "reply_to", "trace_id",
                  "content_type", "schema_version", "headers", "header_list"):
        getattr(r, field)
    if isinstance(r, conduit.Delivery):
        assert r.attempt >= 1
        r.lease
    bytes(r.payload)


class State:
    def __init__(self, data_dir):
        self.dir = data_dir
        self.engine = conduit.Engine(data_dir)
        self.topics = []
        self.readers = []  # subscribers, consumers and LogReaders: closed at the end
        self.groups = []
        self.batches = []  # every batch polled: older ones have been released
        self.deliveries = []

    def topic(self, inp):
        return inp.pick(self.topics) if self.topics and inp.byte() % 8 else inp.pick(JUNK)

    def reader(self, inp, kind):
        mine = [r for r in self.readers if isinstance(r, kind)]
        return inp.pick(mine) if mine else None

    def poll(self, inp, reader):
        batch = checked_call(reader.poll, inp.pick(INTS), inp.pick(TIMEOUTS))
        if batch is None:
            return
        assert len(batch) >= 0 and batch.lost >= 0 and batch.rewound >= 0
        for r in batch:
            read_record(r)
            if isinstance(r, conduit.Delivery):
                self.deliveries.append(r)
        checked_call(batch.__getitem__, inp.pick(INTS))
        batch[::2]
        self.batches.append(batch)

    def step(self, inp):
        op = inp.byte() % 20
        if op == 0:
            t = checked_call(self.engine.create_topic, inp.pick(NAMES), **inp.kwargs(TOPIC_OPTIONS))
            if t is not None:
                assert t.name in self.engine.topics()
                self.topics.append(t)
        elif op == 1:
            t = checked_call(self.engine.topic, inp.pick(NAMES))
            if t is not None:
                self.topics.append(t)
        elif op == 2:
            checked_call(self.engine.delete_topic, inp.pick(NAMES))
        elif op == 3:
            names = self.engine.topics()
            assert names == sorted(names)
        elif op in (4, 5):
            t = self.topic(inp)
            fn = getattr(t, "publish" if op == 4 else "publish_nowait", None)
            if fn is not None:
                kw = inp.kwargs(MESSAGE_FIELDS)
                if op == 4:
                    kw["timeout"] = inp.pick(TIMEOUTS)
                seq = checked_call(fn, inp.pick(PAYLOADS), **kw)
                assert seq is None or seq < t.claimed
        elif op == 6:
            t = self.topic(inp)
            items = []
            for _ in range(inp.byte() % 6):
                if inp.byte() % 2:
                    items.append(checked_call(conduit.Message, inp.pick(PAYLOADS), **inp.kwargs(MESSAGE_FIELDS)))
                else:
                    items.append(inp.pick(PAYLOADS))
            seqs = checked_call(getattr(t, "publish_batch", len), items if inp.byte() % 8 else inp.pick(JUNK))
            assert seqs is None or isinstance(seqs, (list, int))
        elif op == 7:
            m = checked_call(conduit.Message, inp.pick(PAYLOADS), **inp.kwargs(MESSAGE_FIELDS))
            if m is not None:
                m.fields
                m.payload
        elif op == 8:
            t = self.topic(inp)
            kw = inp.kwargs(SUBSCRIBE)
            kw["slow"] = "lose_oldest" if inp.byte() % 8 else inp.pick(["bogus", 1, None])
            s = checked_call(getattr(t, "subscribe", len), **kw)
            if isinstance(s, conduit.Subscriber):
                self.readers.append(s)
        elif op == 9:
            s = self.reader(inp, conduit.Subscriber)
            if s is not None:
                self.poll(inp, s)
        elif op == 10:
            s = self.reader(inp, conduit.Subscriber)
            if s is not None:
                checked_call(s.commit, *([inp.pick(INTS)] if inp.byte() % 2 else []))
                checked_call(lambda: (s.position, s.lag, s.lost, s.closed))
        elif op == 11:
            r = inp.pick(self.readers) if self.readers else None
            if r is not None:
                r.close()
                r.close()
                assert r.closed
                checked_call(r.poll, 1, 0)
        elif op == 12:
            t = self.topic(inp)
            g = checked_call(getattr(t, "work_group", len), inp.pick(NAMES), **inp.kwargs(WORK_GROUP))
            if isinstance(g, conduit.WorkGroup):
                self.groups.append(g)
                c = checked_call(g.consumer, **inp.kwargs({"name": ["c", None, 1], "wait": SUBSCRIBE["wait"]}))
                if c is not None:
                    self.readers.append(c)
        elif op == 13:
            c = self.reader(inp, conduit.Consumer)
            if c is not None:
                self.poll(inp, c)
        elif op == 14:
            c = self.reader(inp, conduit.Consumer)
            if c is not None:
                d = inp.pick(self.deliveries) if self.deliveries and inp.byte() % 8 else inp.pick(JUNK)
                how = inp.byte() % 4
                if how == 0:
                    checked_call(c.ack, d)
                elif how == 1:
                    checked_call(c.nack, d, inp.pick(TIMEOUTS + [None]))
                elif how == 2:
                    checked_call(c.fail, d, inp.pick(NAMES))
                else:
                    checked_call(c.dead_letter, d, inp.pick(NAMES))
        elif op == 15:
            kw = inp.kwargs({"start": SUBSCRIBE["start"], "name": ["r1", None, ""], "wait": SUBSCRIBE["wait"],
                             "park_timeout": [0.0, 0.001, -1.0, math.nan]})
            where = self.dir if inp.byte() % 8 else inp.pick(BAD_DIRS + [self.dir + "/nope"])
            r = checked_call(conduit.LogReader, where, inp.pick(NAMES), **kw)
            if r is not None:
                self.readers.append(r)
                self.poll(inp, r)
                checked_call(r.commit)
                checked_call(lambda: (r.position, r.lost, r.writer_restarts, r.writer_closed))
        elif op == 16:
            t = self.topic(inp)
            if isinstance(t, conduit.Topic):
                checked_call(t.stats)
                checked_call(t.readers)
                checked_call(t.recovery_stats)
                checked_call(t.await_durable, inp.pick(INTS), inp.pick(TIMEOUTS))
                checked_call(lambda: (t.published, t.claimed, t.earliest, t.durable, t.durability))
        elif op == 17:
            g = inp.pick(self.groups) if self.groups else None
            if g is not None:
                checked_call(g.stats)
                checked_call(g.commit)
                checked_call(g.wait_drained, inp.pick(TIMEOUTS))
                checked_call(lambda: (g.lag, g.name))
        elif op == 18:
            # Records of released batches: fields or ValueError, never a crash.
            for b in self.batches[-3:]:
                for r in b:
                    checked_call(read_record, r)
        else:
            # Close, and open again on the same directory; the old handles
            # say closed.
            self.engine.close()
            assert self.engine.closed
            other = checked_call(conduit.Engine, inp.pick(BAD_DIRS), flush_interval=inp.pick(TIMEOUTS))
            if other is not None:
                other.close()
            self.engine = conduit.Engine(self.dir)

    def close(self):
        for r in self.readers:
            r.close()
        self.engine.close()


def run(data, data_dir):
    inp = Input(data)
    state = State(data_dir)
    try:
        steps = 0
        while inp.left() and steps < 64:
            state.step(inp)
            steps += 1
    finally:
        state.close()
        del state
        gc.collect()
