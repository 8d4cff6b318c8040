"""Request-reply from Python. The package has no Requester (that is C++:
conduit/request_reply.h), so this does by hand what it does: each request
carries a correlation id and reply_to, the topic its reply goes to; a
responder thread publishes the reply there with the same correlation id, and
the requester matches replies to requests by it."""
import sys
import threading

import conduit

with conduit.Engine() as engine:
    requests = engine.create_topic("shout")
    replies = engine.create_topic("shout.replies")
    inbox = requests.subscribe()  # both subscribed before any request is sent
    answers = replies.subscribe()

    def respond() -> None:
        """Answers every request with its payload in capitals."""
        while True:
            batch = inbox.poll(timeout=0.1)
            if batch.closed:
                return
            for req in batch:
                engine.topic(req.reply_to).publish(bytes(req.payload).upper(),
                                                   correlation_id=req.correlation_id)

    responder = threading.Thread(target=respond)
    responder.start()

    answered = 0
    for i, word in enumerate([b"hello", b"request", b"reply"]):
        cid = "req-%d" % i
        requests.publish(word, correlation_id=cid, reply_to="shout.replies")
        for rep in answers.poll(max_records=1, timeout=5.0):
            if rep.correlation_id == cid:
                print("%-7s -> %s" % (word.decode(), bytes(rep.payload).decode()))
                answered += bytes(rep.payload) == word.upper()

    engine.close()  # the responder's poll says closed
    responder.join()
    inbox.close()
    answers.close()

sys.exit(0 if answered == 3 else 1)
