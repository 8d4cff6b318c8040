"""conduit-log stat --listen (ctest stat_listen): one scrape of /metrics.

A conduit-demo run leaves its counters file; `conduit-log stat DIR --listen
127.0.0.1:0` serves it on a port the kernel picks (said on stderr), and one
GET of /metrics, through python3's urllib, returns the Prometheus text with
the demo's counts. Usage: stat_listen_test.py CONDUIT_DEMO CONDUIT_LOG WORK_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request


def main():
    demo, tool, work = sys.argv[1:4]
    data = os.path.join(work, "stat-listen-data")
    shutil.rmtree(data, ignore_errors=True)
    subprocess.run([demo, "--messages", "1000", "--payload", "32", "--data-dir", data],
                   check=True, stdout=subprocess.DEVNULL, timeout=120)
    server = subprocess.Popen([tool, "stat", data, "--listen", "127.0.0.1:0"],
                              stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()
        m = re.search(r"serving (http://\S+/metrics)", line)
        assert m, "no 'serving' line on stderr: %r" % line
        with urllib.request.urlopen(m.group(1), timeout=30) as r:
            assert r.status == 200, r.status
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers["Content-Type"]
            body = r.read().decode()
        assert 'conduit_topic_published_total{topic="demo.orders"} 1000\n' in body, body
        assert "# TYPE conduit_reader_lag_records gauge\n" in body, body
        try:
            urllib.request.urlopen(m.group(1).replace("/metrics", "/other"), timeout=30)
            raise AssertionError("/other answered")
        except urllib.error.HTTPError as e:
            assert e.code == 404, e.code
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(data, ignore_errors=True)
    print("stat --listen served /metrics once")


if __name__ == "__main__":
    main()
