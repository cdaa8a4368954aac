"""Child processes (moto, training jobs, model servers) that cannot outlive us: started from one
long-lived thread with Linux's parent-death signal, so a local-mode process killed without cleaning up
(SIGKILL) still takes them down; stopped by process group; a free 127.0.0.1 port for a child server."""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

PR_SET_PDEATHSIG = 1
Spawn = Callable[..., subprocess.Popen]  # subprocess.Popen, or a Spawner's popen


def die_with_parent() -> None:
    """preexec_fn: SIGTERM this child when the thread that started it ends (Linux; elsewhere a no-op)."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return


class Spawner:
    """The parent-death signal follows the *thread* that forked, so every child is started here."""

    def __init__(self) -> None:
        self._requests: queue.Queue[tuple[list[str], dict[str, Any], Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="process-spawner")
        self._thread.start()

    def popen(self, argv: list[str], **options: Any) -> subprocess.Popen:
        started: Future[subprocess.Popen] = Future()
        self._requests.put((argv, options, started))
        return started.result()

    def _serve(self) -> None:
        while True:
            request = self._requests.get()
            if request is None:
                return
            argv, options, started = request
            try:
                started.set_result(subprocess.Popen(argv, preexec_fn=die_with_parent, **options))
            except (OSError, ValueError, subprocess.SubprocessError) as error:  # raised in the caller
                started.set_exception(error)

    def stop(self) -> None:
        """Call once every child has been stopped: ending the thread signals any that remain."""
        self._requests.put(None)
        self._thread.join(timeout=10)


def terminate_group(process: subprocess.Popen, grace_seconds: float = 5.0) -> None:
    """SIGTERM the process group, SIGKILL it if it outlives the grace period."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait()


def free_port() -> int:
    """A 127.0.0.1 port no other free_port() (anywhere on the machine) returns for the next minute.

    Probing with bind(0) and closing hands the port back at once, so a parallel test's probe could
    get it too and whichever server binds second fails, while its health check talks to the first.
    Here the probe accepts one connection and closes its side first: the port stays in TIME_WAIT for
    60 s, which bind(0) skips, while a server binding it with SO_REUSEADDR (uvicorn, werkzeug, nginx,
    gunicorn, Go's net.Listen all do) still can.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        address = listener.getsockname()
        with socket.create_connection(address, timeout=5):
            accepted, _ = listener.accept()
            accepted.close()  # the server side closes first, so the TIME_WAIT holds this port
        return address[1]
