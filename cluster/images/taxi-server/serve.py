"""Serve /models/model.joblib over HTTP, saying which version and which pod answered.

GET /health        {"status": "ok", "version": ..., "pod": ...}
POST /predict      {"trips": [...]} -> {"probabilities": [...], "version": ..., "pod": ...}

Inside a pod it must listen on every interface (the pod's own address): the
Service and the kubelet's probes reach it there. SIGTERM, which Kubernetes sends
before it removes a pod, stops it cleanly.
"""
import json
import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import joblib
import pandas as pd

MODEL = joblib.load(os.environ.get("MODEL", "/models/model.joblib"))
IDENTITY = {"version": os.environ.get("MODEL_VERSION", "unknown"), "pod": socket.gethostname()}


class Handler(BaseHTTPRequestHandler):
    def _answer(self, status, body):
        payload = json.dumps({**body, **IDENTITY}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        if self.path == "/health":
            self._answer(200, {"status": "ok"})
        else:
            self._answer(404, {"error": f"no such path {self.path}: use GET /health or POST /predict"})

    def do_POST(self):
        if self.path != "/predict":
            self._answer(404, {"error": f"no such path {self.path}: use POST /predict"})
            return
        try:
            trips = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))["trips"]
            frame = pd.DataFrame(trips)
            frame["pickup_time"] = pd.to_datetime(frame["pickup_time"])
            probabilities = MODEL.predict_proba(frame)[:, 1]
        except (KeyError, ValueError, TypeError) as exc:
            self._answer(400, {"error": f"{type(exc).__name__}: {exc}; send {{\"trips\": [{{column: value, ...}}, ...]}}"})
            return
        self._answer(200, {"probabilities": probabilities.tolist()})

    def log_message(self, fmt, *args):
        sys.stderr.write(f"{self.address_string()} {fmt % args}\n")


server = ThreadingHTTPServer(("", 8000), Handler)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(f"serving model version {IDENTITY['version']} on port 8000", flush=True)
server.serve_forever()
