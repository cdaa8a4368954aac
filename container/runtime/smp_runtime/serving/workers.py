"""Runs an ASGI app on uvicorn (uvloop + httptools) in N forked worker processes sharing one socket.

The model is loaded once, before forking (like gunicorn --preload): workers start in
milliseconds and share the model's memory. The parent restarts a worker that dies and, on
SIGTERM/SIGINT, stops them all and waits for in-flight requests (MODEL_SERVER_TIMEOUT seconds).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import time
from types import FrameType
from typing import Any

LOG = logging.getLogger("smp_runtime.serving")

CRASH_WINDOW_SECONDS = 5.0
MAX_QUICK_CRASHES = 5


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_forever(app: Any, sock: socket.socket, graceful_seconds: int, handoff: Any = None) -> None:
    """One worker: uvicorn on the shared socket until SIGTERM/SIGINT.

    `handoff` (a handoff.Handoff, with several workers) lets the app move a waiting request to a
    sibling worker and this worker adopt the ones its siblings move.
    """
    import uvicorn

    http: Any = "httptools"
    server: Any = uvicorn.Server
    if handoff is not None:
        from smp_runtime.serving.handoff import AdoptingServer, protocol_class

        http = protocol_class(handoff)
        server = functools.partial(AdoptingServer, handoff=handoff)
        app.use_handoff(handoff)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=http,
        # The batching app logs its totals on the lifespan shutdown (uvicorn re-raises SIGTERM after it).
        lifespan="on" if getattr(app, "handles_lifespan", False) else "off",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=graceful_seconds,
        server_header=False,
        date_header=False,
    )
    server(config).run(sockets=[sock])


class Supervisor:
    def __init__(self, app: Any, sock: socket.socket, workers: int, graceful_seconds: int) -> None:
        self.app = app
        self.sock = sock
        self.workers = workers
        self.graceful_seconds = graceful_seconds
        self.children: dict[int, tuple[int, float]] = {}  # pid: (worker index, start time)
        self.board: Any = None
        self.channels: Any = None
        if getattr(app, "hands_off", False):
            from smp_runtime.serving.handoff import Board, Channels

            self.board, self.channels = Board(workers), Channels(workers)
        self.stopping = False
        self.quick_crashes = 0

    def _spawn(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 0
            try:
                handoff = None
                if self.board is not None:
                    from smp_runtime.serving.handoff import Handoff

                    handoff = Handoff(self.board, self.channels, index)
                serve_forever(self.app, self.sock, self.graceful_seconds, handoff)
            except BaseException:
                LOG.exception("worker %s crashed", os.getpid())
                code = 1
            os._exit(code)
        self.children[pid] = (index, time.monotonic())

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for index in range(self.workers):
            self._spawn(index)
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            child = self.children.pop(pid, None)
            if self.stopping or child is None:
                continue
            index, started = child
            LOG.warning("worker %s exited (status %s); starting a new one", pid, status)
            if time.monotonic() - started < CRASH_WINDOW_SECONDS:
                self.quick_crashes += 1
                if self.quick_crashes >= MAX_QUICK_CRASHES:
                    LOG.error("workers keep crashing at start; stopping the server")
                    self._stop(signal.SIGTERM, None)
                    continue
            self._spawn(index)
        return 1 if self.quick_crashes >= MAX_QUICK_CRASHES else 0


# libuv (under uvloop) accepts every pending connection in one go unless this is set: the worker that
# woke first took most of a burst of keep-alive connections and kept them, so with a slow model its
# clients waited for twice the predict calls of the other's (16 forest clients split 1/15 to 6/10,
# p99 1.4x nginx's, which balances per request). One accept per loop pass splits them evenly.
SINGLE_ACCEPT = "UV_TCP_SINGLE_ACCEPT"


def run_workers(app: Any, host: str, port: int, workers: int, graceful_seconds: int) -> int:
    sock = bind(host, port)
    if workers <= 1:
        serve_forever(app, sock, graceful_seconds)
        return 0
    os.environ.setdefault(SINGLE_ACCEPT, "1")  # read by each worker's libuv when it starts listening
    return Supervisor(app, sock, workers, graceful_seconds).run()
