#!/usr/bin/env python3
"""Writes the ipc_wire fuzz target's seeds into tests/fuzz-corpus/ipc_wire/:
well-formed exchanges of each op (engine/ipc_wire.h), each after a hello,
as fuzz_ipc_wire.cpp reads them (a u16 length, then the packet).
  tools/fuzz/ipc_wire_seeds.py [OUT_DIR]"""
import os
import struct
import sys

MAGIC, VERSION = 0x43504943, 3
HELLO, OPEN_GROUP, CONSUMER, POLL, ACK, FAIL, POLL_ACK = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, COMMIT, GROUP_STATS, TOPIC_STATS = 64, 65, 66, 67
REPLY_TOPIC = 96
PUB_OPEN, PUB_ROLL, PUB_DURABLE = 32, 34, 36
TAIL_PAST_END = (1 << 40) - 1  # a tail whose offset is past any segment: nothing for the roll to seal


def s(text):
    b = text.encode()
    return struct.pack("<I", len(b)) + b


def options(kind=0, seq=0, max_attempts=0, dead_letter=""):
    # start kind, seq, time; max_in_flight, ack_timeout ns, max_attempts;
    # backoff base, max (ns), jitter; dead-letter topic; on_failure.
    return (struct.pack("<BQqIqIqqd", kind, seq, 0, 1 << 16, 30 * 10**9, max_attempts, 0, 10**9, 0.0)
            + s(dead_letter) + struct.pack("<B", 0))


def packet(op, body=b""):
    return bytes([op]) + body


def frame(*packets):
    return b"".join(struct.pack("<H", len(p)) + p for p in packets)


hello = packet(HELLO, struct.pack("<III", MAGIC, VERSION, 1234))
consumer = packet(CONSUMER, s("t") + s("g") + options() + s("fuzz") + struct.pack("<B", 0))
poll = packet(POLL, struct.pack("<Iq", 16, -1))
seeds = {
    "hello": [hello],
    "open_group": [hello, packet(OPEN_GROUP, s("t") + s("g2") + options(max_attempts=3, dead_letter="m"))],
    "consumer": [hello, consumer],
    "poll": [hello, consumer, poll, packet(POLL, struct.pack("<Iq", 4, 1000))],
    "ack": [hello, consumer, poll, packet(ACK, struct.pack("<IQQ", 1, 0, 1))],
    # acks, then a poll's max and timeout; none carried in the second
    "poll_ack": [hello, consumer, poll, packet(POLL_ACK, struct.pack("<IQQIq", 1, 0, 1, 16, -1)),
                 packet(POLL_ACK, struct.pack("<IIq", 0, 4, 1000))],
    "nack": [hello, consumer, poll] + [packet(FAIL, struct.pack("<BQQq", k, 0, 1, 1000) + s("why")) for k in range(4)],
    "subscribe": [hello, packet(SUBSCRIBE, s("t") + s("") + struct.pack("<BQq", 0, 0, 0))],
    "commit": [hello, packet(SUBSCRIBE, s("t") + s("reader") + struct.pack("<BQq", 0, 0, 0)),
               packet(COMMIT, struct.pack("<Q", 1))],
    "stats": [hello, packet(GROUP_STATS, s("t") + s("g")), packet(TOPIC_STATS, s("t")), packet(TOPIC_STATS, s("m"))],
    # kAsync (made), kMemory (refused), and the memory-only topic "m" (refused).
    # A roll past a head that is open rolls nothing: with no wait (as an
    # unbounded publish sends it), none at all (try_publish), and 1 us.
    "pub_roll": [hello, packet(PUB_OPEN, s("t"))] + [
        packet(PUB_ROLL, s("t") + struct.pack("<IQ", 0, TAIL_PAST_END) + wait) for wait in
        (b"", struct.pack("<q", -1), struct.pack("<q", 1000))],
    # A durability wait with its bound (the harness cuts it to 1 ms), one
    # looking once (< 0), and one without (as a kSync publish sends it).
    "pub_durable": [hello, packet(PUB_OPEN, s("t")), packet(PUB_DURABLE, s("t") + struct.pack("<Qq", 0, 1000)),
                    packet(PUB_DURABLE, s("t") + struct.pack("<Qq", 0, -1)), packet(PUB_DURABLE, s("m") + struct.pack("<Qq", 0, 5)),
                    packet(PUB_DURABLE, s("t") + struct.pack("<Q", 0))],
    "reply_topic": [hello, packet(REPLY_TOPIC, s("r") + struct.pack("<B", 1)),
                    packet(REPLY_TOPIC, s("r2") + struct.pack("<B", 0)), packet(REPLY_TOPIC, s("m") + struct.pack("<B", 1))],
}
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../tests/fuzz-corpus/ipc_wire")
os.makedirs(out, exist_ok=True)
for name, packets in seeds.items():
    with open(os.path.join(out, "seed-" + name), "wb") as f:
        f.write(frame(*packets))
