"""A reader in another process, from Python: this process writes a persisted
topic through its Engine; a second Python process (this file, run with
`read DIR`) follows the topic with a LogReader, which reads the log files
directly (no engine, no lock, no socket)."""
import shutil
import subprocess
import sys
import tempfile
import time

import conduit

COUNT = 100


def follow(data_dir: str) -> int:
    """The reader process: waits for the topic, then reads until the writer
    closed it. 0 when it saw every record, in order."""
    for _ in range(500):  # the writer may not have created it yet
        try:
            reader = conduit.LogReader(data_dir, "events", start="earliest")
            break
        except conduit.Error:
            time.sleep(0.01)
    else:
        return 1
    seen = 0
    with reader:
        while seen < COUNT or not reader.writer_closed:
            batch = reader.poll(max_records=32, timeout=5.0)
            if len(batch) == 0 and seen < COUNT:
                return 1  # nothing new for 5 s
            for rec in batch:
                if bytes(rec.payload) != b"event %d" % seen:
                    return 1
                seen += 1
    print("reader: followed %d records the writer process published" % seen)
    return 0 if seen == COUNT else 1


def write(data_dir: str) -> int:
    reader = subprocess.Popen([sys.executable, __file__, "read", data_dir])
    with conduit.Engine(data_dir) as engine:
        events = engine.create_topic("events", durability="async")  # synced in the background
        for i in range(COUNT):
            events.publish(b"event %d" % i)
            if i % 10 == 9:
                time.sleep(0.005)  # the reader follows as records come
    # Leaving the with block closed the engine: the reader sees writer_closed.
    return reader.wait(timeout=60)


if __name__ == "__main__":
    if sys.argv[1:2] == ["read"]:
        sys.exit(follow(sys.argv[2]))
    directory = tempfile.mkdtemp(prefix="conduit-example-")
    try:
        sys.exit(write(directory))
    finally:
        shutil.rmtree(directory)
