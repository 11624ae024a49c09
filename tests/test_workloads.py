"""The client pods' program, run here against a real HTTP server on 127.0.0.1 (the labs run it in the cluster)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlops_course import workloads


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        status = 500 if self.path == "/broken" else 200
        payload = json.dumps({"version": "7", "pod": "pod-a"}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        payload = json.dumps({"version": str(len(body["trips"])), "pod": "pod-b"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def run_client(plan: dict) -> list[dict]:
    result = subprocess.run([sys.executable, "-c", workloads.CLIENT, json.dumps(plan)], capture_output=True, text=True,
                            timeout=60, check=True)
    return json.loads(result.stdout)


def test_a_counted_client_records_every_answer(server):
    rows = run_client({"url": f"{server}/health", "count": 30, "workers": 3})
    assert 30 <= len(rows) <= 32  # each thread checks the count before it sends: at most one extra each
    assert all(r["ok"] and r["status"] == 200 and r["version"] == "7" and r["pod"] == "pod-a" for r in rows)
    assert all(r["ms"] >= 0 and r["sent"] > 0 for r in rows)


def test_a_timed_client_posts_its_body(server):
    rows = run_client({"url": f"{server}/predict", "seconds": 0.5, "body": {"trips": [{}, {}, {}]}, "interval": 0.01})
    assert rows and all(r["version"] == "3" and r["pod"] == "pod-b" for r in rows)
    assert rows[-1]["sent"] - rows[0]["sent"] < 1.5


def test_failures_are_recorded_not_raised(server):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    broken = run_client({"url": f"{server}/broken", "count": 2})
    refused = run_client({"url": f"http://127.0.0.1:{closed}/health", "count": 2})
    assert [(r["ok"], r["status"]) for r in broken] == [(False, 500)] * 2
    assert all(not r["ok"] and r["status"] == 0 and "Connection refused" in r["error"] for r in refused)


def test_a_client_pod_needs_an_end():
    with pytest.raises(ValueError, match="seconds or a number of requests"):
        workloads.ClientPod("ns", "client", "http://taxi-server/health")
