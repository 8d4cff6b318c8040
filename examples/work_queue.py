"""A work queue from Python: a work group shares jobs among its consumers; a
job that fails is retried, and after its last attempt goes to a dead-letter
topic."""
import sys

import conduit


def handle(job: bytes, attempt: int) -> bool:
    """Job "flaky" fails on its first attempt; job "poison" always fails."""
    if job == b"poison":
        return False
    if job == b"flaky":
        return attempt > 1
    return True


with conduit.Engine() as engine:
    jobs = engine.create_topic("jobs")
    # Up to 3 attempts, 1 ms apart and doubling, then to the topic "jobs.failed".
    workers = jobs.work_group("workers", max_attempts=3, backoff_base=0.001, dead_letter_topic="jobs.failed")
    failed = engine.topic("jobs.failed").subscribe(start="earliest")

    for job in (b"resize", b"flaky", b"poison", b"email"):
        jobs.publish(job)

    with workers.consumer() as worker:
        while workers.lag > 0:  # until every job is acked or dead-lettered
            for d in worker.poll(timeout=0.1):
                job = bytes(d.payload)
                ok = handle(job, d.attempt)
                print("%-7s attempt %d: %s" % (job.decode(), d.attempt, "done" if ok else "failed"))
                if ok:
                    worker.ack(d)
                else:
                    worker.fail(d, "handler failed")  # retried after a backoff, dead-lettered after the 3rd

    dead = [(bytes(r.payload), r.headers["conduit.dlq.attempts"]) for r in failed.poll(timeout=1.0)]
    for job, attempts in dead:
        print("dead letter: %s after %s attempts" % (job.decode(), attempts))
    failed.close()

sys.exit(0 if [job for job, _ in dead] == [b"poison"] else 1)
