"""Fan-out from Python: every subscriber of a topic sees every record, each
at its own pace."""
import sys

import conduit

with conduit.Engine() as engine:  # no data directory: memory-only
    prices = engine.create_topic("prices")
    # Two independent readers, both from the first record on.
    chart = prices.subscribe(start="earliest")
    alerts = prices.subscribe(start="earliest")

    for i in range(5):
        prices.publish(b"tick %d" % (100 + i))

    seen = 0
    for name, sub in (("chart ", chart), ("alerts", alerts)):
        for rec in sub.poll(timeout=1.0):  # payloads are views, valid until the next poll
            print(name, "got #%d" % rec.sequence, bytes(rec.payload).decode())
            seen += 1
        sub.close()

sys.exit(0 if seen == 10 else 1)  # each of the two read all five
