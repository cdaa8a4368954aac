"""Fixtures for the container runtime: installed examples, /opt/ml trees, running servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = ROOT / "container"
EXAMPLES = ROOT / "examples"
IRIS_CSV = EXAMPLES / "data" / "iris.csv"

for extra in (CONTAINER / "runtime", CONTAINER):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import install_local  # noqa: E402 - container/ is put on sys.path just above

from localmode.aws.processes import free_port  # noqa: E402

PACKAGES = {
    "runtime": None,
    "iris_model": EXAMPLES / "iris_model",
    "iris_seed": EXAMPLES / "iris_seed",
    "iris_failing": EXAMPLES / "iris_failing",
}


class FakeEntryPoint:
    """Stands in for an importlib entry point that loads `function`."""

    def __init__(self, function: object) -> None:
        self.function = function
        self.value = "fake"

    def load(self) -> object:
        return self.function


def write_package_without_entry_points(folder: Path) -> Path:
    """A package named `plain` that declares no train/serve entry points (the build must refuse it)."""
    (folder / "plain").mkdir(parents=True)
    (folder / "plain" / "__init__.py").write_text("")
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "plain"\nversion = "0.1"\n'
    )
    return folder


@dataclass(frozen=True)
class Installed:
    """Each example pip-installed (no dependencies) into its own folder; the runtime in another."""

    dirs: dict[str, Path]

    def environment(self, base_dir: Path, *packages: str, **extra: str) -> dict[str, str]:
        env = install_local.run_environment(self.dirs["runtime"], base_dir)
        paths = [str(self.dirs[name]) for name in packages]
        env["PYTHONPATH"] = os.pathsep.join([*paths, env["PYTHONPATH"]])
        env.pop("SMP_USER_PACKAGE", None)
        env.update(extra)
        return env

    def executable(self, name: str) -> str:
        return str(self.dirs["runtime"] / "bin" / name)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("installed")
    dirs = {}
    for name, package in PACKAGES.items():
        target = root / name
        packages = [] if package is None else [package]
        dirs[name] = install_local.install_into_target(target, packages, with_runtime=package is None)
    return Installed(dirs)


def make_opt_ml(base: Path, hyperparameters: dict[str, str] | None = None) -> Path:
    """A SageMaker /opt/ml tree with the iris CSV in the `train` channel."""
    channel = base / "input" / "data" / "train"
    channel.mkdir(parents=True)
    (channel / "iris.csv").write_bytes(IRIS_CSV.read_bytes())
    config = base / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters or {"max_depth": "4"}))
    (config / "inputdataconfig.json").write_text(json.dumps({"train": {"ContentType": "text/csv"}}))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    return base


@pytest.fixture
def opt_ml(tmp_path: Path) -> Path:
    return make_opt_ml(tmp_path / "opt-ml")


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[str]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(command: list[str], env: dict[str, str], port: int, timeout: float = 60) -> RunningServer:
    import requests

    process = subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    server = RunningServer(url, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"server exited with {process.returncode} before answering /ping:\n{output}")
        try:
            if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                return server
        except (requests.ConnectionError, requests.Timeout):  # a loaded machine answers late
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"server did not answer /ping within {timeout}s")


@pytest.fixture(scope="session")
def trained_model_dir(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = make_opt_ml(tmp_path_factory.mktemp("trained") / "opt-ml")
    env = installed.environment(base, "iris_model")
    subprocess.run([installed.executable("train")], env=env, check=True, capture_output=True)
    return base


def start_builtin_server(installed: Installed, base: Path, **settings: str) -> RunningServer:
    """The example's built-in server with 2 workers and a 1 MB payload cap; ``settings`` add to them."""
    port = free_port()
    env = installed.environment(
        base,
        "iris_model",
        SAGEMAKER_BIND_TO_PORT=str(port),
        MODEL_SERVER_WORKERS="2",
        SAGEMAKER_MAX_PAYLOAD_IN_MB="1",
        **settings,
    )
    return start_server([installed.executable("serve")], env, port)


@pytest.fixture(scope="module")
def builtin_server(installed: Installed, trained_model_dir: Path) -> Iterator[RunningServer]:
    server = start_builtin_server(installed, trained_model_dir)
    yield server
    server.stop()
