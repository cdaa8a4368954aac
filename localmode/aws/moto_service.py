"""moto server on a free 127.0.0.1 port: a child process (its output to a log file) or a thread (tests)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from localmode import ROOT
from localmode.aws.processes import die_with_parent, free_port, terminate_group


class MotoService(Protocol):
    url: str

    def stop(self) -> None: ...


def _wait_ready(url: str, is_alive: Any, timeout_seconds: float = 30) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if not is_alive():
            raise RuntimeError("moto server exited during start-up")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/reset-auth", timeout=1):  # noqa: S310 - 127.0.0.1
                return
        except urllib.error.HTTPError:
            return  # it answers: it is up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server at {url} did not answer within {timeout_seconds:.0f} s")


class MotoProcess:
    def __init__(self, log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._log = log_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "localmode.aws.strict_moto", "-H", "127.0.0.1", "-p", str(port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
            preexec_fn=die_with_parent,
            cwd=ROOT,  # where `localmode` imports from
        )
        _wait_ready(self.url, lambda: self.process.poll() is None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        terminate_group(self.process)
        self._log.close()


class MotoThread:
    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        from localmode.aws import strict_moto

        strict_moto.apply()

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        # moto's backends are process-wide: every in-process server shares one account, so callers
        # that need isolation use their own names (tests give each stack a unique name)
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()
