"""Seed-style serving: the package runs its own HTTP server (here the standard library's)."""

from __future__ import annotations

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import joblib
import numpy as np


def _handler(model: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._reply(200 if self.path == "/ping" else 404, b"")

        def do_POST(self) -> None:
            if self.path != "/invocations":
                self._reply(404, b"")
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                rows = np.loadtxt(body.decode().splitlines(), delimiter=",", ndmin=2)
            except ValueError as error:
                self._reply(400, f"bad CSV: {error}\n".encode())
                return
            labels = model.predict(rows)
            self._reply(200, "".join(f"{label}\n" for label in labels).encode(), "text/csv")

        def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def start_server() -> None:
    model = joblib.load(Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model")) / "model.joblib")
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), _handler(model))  # noqa: S104 - container port
    print(f"iris_seed: serving on port {port}", flush=True)
    server.serve_forever()
