"""Start, health-check and stop the servers under test, each a process group of its own."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import envs
from localmode.aws.sagemaker import hosting

REPO = Path(__file__).resolve().parent.parent


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server: its argv and environment, given the port it must listen on."""

    key: str
    label: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


class ServerFailed(RuntimeError):
    pass


class RunningServer:
    """A started server; `healthy_after` is the time from process start to its first 200 on /ping."""

    def __init__(self, spec: ServerSpec, port: int, log_path: Path):
        self.spec = spec
        self.port = port
        self.log_path = log_path
        self.healthy_after: float | None = None
        self._log = log_path.open("ab")
        env = {**os.environ, **spec.env}
        self._started = time.perf_counter()
        self.process = subprocess.Popen(
            spec.argv, env=env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_healthy(self, timeout_s: float = 30.0) -> float:
        deadline = self._started + timeout_s
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(
                    f"{self.spec.label} exited with {self.process.returncode}; {self.log_tail()}"
                )
            if ping(self.port):
                self.healthy_after = time.perf_counter() - self._started
                return self.healthy_after
            time.sleep(0.005)
        raise ServerFailed(f"{self.spec.label} not healthy after {timeout_s:.0f} s; {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "log tail:\n" + "\n".join(text)

    def stop(self) -> None:
        # The server's own shutdown stops and reaps its workers, so their CPU time is accounted to
        # this process (benchmarks.machine.contention); whatever outlives it shares its process group.
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()


def ping(port: int) -> bool:
    return hosting.ping(port, timeout=1)  # the health check local mode's SageMaker runs


def ours(bin_dir: Path, environment: dict[str, str], port: int, workers: int) -> ServerSpec:
    """The container runtime's `serve`, installed with the example by benchmarks.envs."""
    serve = bin_dir / "serve"
    if not serve.exists():
        raise ServerFailed(f"the container runtime's `serve` is not installed in {bin_dir}")
    env = {**environment, "SAGEMAKER_BIND_TO_PORT": str(port), "MODEL_SERVER_WORKERS": str(workers)}
    return ServerSpec("ours", "built-in server", (str(serve),), env)


def byo(model_path: Path, run_dir: Path, port: int, workers: int) -> ServerSpec:
    argv = (
        str(envs.byo_python()), "-m", "benchmarks.byo.serve",
        "--port", str(port), "--run-dir", str(run_dir), "--model-path", str(model_path),
    )  # fmt: skip
    return ServerSpec("byo", "BYO nginx+gunicorn+flask", argv, {"MODEL_SERVER_WORKERS": str(workers)})


CEILING_SERVERS = ("uvicorn", "granian")


def ceiling(server: str, model_path: Path, port: int, workers: int) -> ServerSpec:
    env = {"CEILING_MODEL_PATH": str(model_path)}
    if server == "uvicorn":
        argv = (
            sys.executable, "-m", "uvicorn", "benchmarks.ceiling:app",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--loop", "uvloop", "--http", "httptools", "--lifespan", "off",
            "--no-access-log", "--log-level", "warning",
        )  # fmt: skip
        return ServerSpec("ceiling", "bare ASGI on uvicorn+uvloop+httptools", argv, env)
    if server == "granian":
        argv = (
            sys.executable, "-m", "granian", "benchmarks.ceiling:app",
            "--interface", "asginl", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--loop", "uvloop", "--http", "1", "--no-ws",
            "--log-level", "warning",
        )  # fmt: skip
        return ServerSpec("ceiling", "bare ASGI on granian", argv, env)
    raise ValueError(f"unknown ceiling server {server!r}; choose one of {CEILING_SERVERS}")
