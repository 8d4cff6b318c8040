#!/usr/bin/env python3
"""Python publish + read rates through conduit, beside the standard library's
queues, measured in the same run (bench/README.md, "python_bench.py").

  PYTHONPATH=build/python python3 bench/python_bench.py [--messages N] [--payload BYTES] [--repeats R]

Two threads: a publisher thread and a reader thread of one process, through
a memory-only conduit topic (Topic.publish, Subscriber.poll reading each
payload's memoryview) and through queue.Queue (put, get).
Two processes: a publisher process and a reader process, through a
persisted (async) conduit topic followed with LogReader, and through
multiprocessing.Queue. Each side moves N messages of BYTES bytes; the rate
is N over the time from the first publish to the last read. Prints each
rate, the median over the repeats, and conduit's ratio to the baseline
with the machine's core count. Not part of CI: timings are not asserted.
"""

import argparse
import multiprocessing
import os
import queue
import statistics
import tempfile
import threading
import time

import conduit


def conduit_threads(n, payload):
    with conduit.Engine() as e:
        t = e.create_topic("bench", max_payload_bytes=max(1024, len(payload)))
        sub = t.subscribe()
        done = threading.Event()
        read = [0]

        def reader():
            got = 0
            while got < n:
                for rec in sub.poll(max_records=512, timeout=1.0):
                    got += len(rec.payload) > 0
            read[0] = got
            done.set()

        r = threading.Thread(target=reader)
        start = time.perf_counter()
        r.start()
        publish = t.publish
        for _ in range(n):
            publish(payload)
        r.join()
        elapsed = time.perf_counter() - start
        sub.close()
        assert read[0] == n
        return n / elapsed


def queue_threads(n, payload):
    q = queue.Queue()
    read = [0]

    def reader():
        got = 0
        while got < n:
            got += len(q.get()) > 0
        read[0] = got

    r = threading.Thread(target=reader)
    start = time.perf_counter()
    r.start()
    put = q.put
    for _ in range(n):
        put(payload)
    r.join()
    elapsed = time.perf_counter() - start
    assert read[0] == n
    return n / elapsed


def _conduit_writer(data_dir, n, payload, created, go):
    with conduit.Engine(data_dir) as e:
        t = e.create_topic("bench", durability="async", max_payload_bytes=max(1024, len(payload)))
        created.set()
        go.wait()
        publish = t.publish
        for _ in range(n):
            publish(payload)


def conduit_processes(n, payload):
    ctx = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="conduit-pybench-") as data_dir:
        created, go = ctx.Event(), ctx.Event()
        writer = ctx.Process(target=_conduit_writer, args=(data_dir, n, payload, created, go))
        writer.start()
        created.wait()
        reader = conduit.LogReader(data_dir, "bench", start="earliest")
        start = time.perf_counter()
        go.set()
        got = 0
        while got < n:
            for rec in reader.poll(max_records=512, timeout=1.0):
                got += len(rec.payload) > 0
        elapsed = time.perf_counter() - start
        reader.close()
        writer.join()
        assert writer.exitcode == 0
        return n / elapsed


def _queue_writer(q, n, payload, go):
    go.wait()
    put = q.put
    for _ in range(n):
        put(payload)


def mp_queue_processes(n, payload):
    ctx = multiprocessing.get_context("fork")
    q, go = ctx.Queue(), ctx.Event()
    writer = ctx.Process(target=_queue_writer, args=(q, n, payload, go))
    writer.start()
    start = time.perf_counter()
    go.set()
    got = 0
    while got < n:
        got += len(q.get()) > 0
    elapsed = time.perf_counter() - start
    writer.join()
    assert writer.exitcode == 0
    return n / elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--payload", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    payload = b"x" * args.payload
    pairs = [
        ("2 threads", conduit_threads, "queue.Queue", queue_threads),
        ("2 processes", conduit_processes, "multiprocessing.Queue", mp_queue_processes),
    ]
    cores = os.cpu_count()
    print(f"python_bench: {args.messages} messages of {args.payload} B, {args.repeats} repeats, {cores} cores")
    for label, ours, base_name, base in pairs:
        rates = {"conduit": [], base_name: []}
        for i in range(args.repeats):
            # Taking turns, so that a slow moment of a shared machine falls on both.
            order = [("conduit", ours), (base_name, base)]
            if i % 2:
                order.reverse()
            for name, fn in order:
                rates[name].append(fn(args.messages, payload))
        ours_rate = statistics.median(rates["conduit"])
        base_rate = statistics.median(rates[base_name])
        for name, rs in rates.items():
            print(f"  {label:11}  {name:22} median {statistics.median(rs):>12,.0f} msg/s"
                  f"  (runs: {', '.join(f'{r:,.0f}' for r in rs)})")
        print(f"  {label:11}  conduit / {base_name}: {ours_rate / base_rate:.2f}x  ({cores} cores)")


if __name__ == "__main__":
    main()
