"""A model server process for one endpoint deployment: `serve` on a free 127.0.0.1 port."""

from __future__ import annotations

import http.client
import subprocess
import time
from pathlib import Path

from localmode.aws.processes import Spawn, free_port, terminate_group
from localmode.aws.sagemaker.runtimes import Runtime


class ModelLoadError(Exception):
    """The model server did not become healthy; the message is the endpoint's FailureReason."""


def ping(port: int, timeout: float) -> bool:
    """SageMaker's health check: GET /ping on 127.0.0.1:port answers 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


class ModelServer:
    def __init__(
        self, runtime: Runtime, base_dir: Path, environment: dict[str, str], spawn: Spawn = subprocess.Popen
    ) -> None:
        self.base_dir = base_dir
        self.port = free_port()
        argv, env = runtime.command(
            "serve", base_dir, self.port, {"MODEL_SERVER_WORKERS": "1", **environment}
        )
        self._log_path = base_dir / "serve.log"
        self._log = self._log_path.open("w", encoding="utf-8")
        self.process = spawn(
            argv, env=env, cwd=base_dir, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_healthy(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise ModelLoadError(
                    f"The primary container for production variant AllTraffic did not pass the ping health "
                    f"check: serve exited with code {code}. {self.log_tail()}"
                )
            if self._ping():
                return
            time.sleep(0.1)
        raise ModelLoadError(
            f"The primary container for production variant AllTraffic did not pass the ping health check "
            f"within {timeout_seconds:.0f} s. {self.log_tail()}"
        )

    def _ping(self) -> bool:
        return ping(self.port, timeout=2)

    def invoke(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("POST", "/invocations", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def log_tail(self, lines: int = 3) -> str:
        self._log.flush()
        text = self._log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        terminate_group(self.process)
        self._log.close()
