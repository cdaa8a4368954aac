"""`make sdk-check`: the image under the SageMaker Python SDK's own local mode, 2.x and 3.x.

    .venv/bin/python sdk-check/run.py [--only sdk2|sdk3] [--keep-work]

Builds examples/iris_model into localhost/smp-sdk-check:latest (container/build_image.py), starts
`podman system service` as the Docker API the SDKs and docker-compose talk to (DOCKER_HOST), then
runs each SDK's script in its own virtualenv (build/sdk-check/sdk2, sdk3: made by the Makefile from
requirements-sdk2.txt / requirements-sdk3.txt). Fake credentials; AWS_ENDPOINT_URL points at a closed
port on 127.0.0.1, so any AWS call the SDK made would fail the check instead of leaving the machine.
Prints one line per SDK (pass/fail, seconds) and exits non-zero when one fails.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "container"))

import build_image  # noqa: E402 - container/ is put on sys.path just above

IMAGE = "localhost/smp-sdk-check:latest"
PACKAGE = ROOT / "examples" / "iris_model"
IRIS_CSV = ROOT / "examples" / "data" / "iris.csv"
VENVS = ROOT / "build" / "sdk-check"
SDK_CONFIG = HERE / "sagemaker-config.yaml"
CHECKS = {"sdk2": HERE / "sdk2_local.py", "sdk3": HERE / "sdk3_local.py"}
CHECK_TIMEOUT_S = 1200
SDK_NETWORK = "sagemaker-local"  # both SDKs' compose files attach their containers to it


@dataclass(frozen=True)
class Outcome:
    name: str
    sdk_version: str
    passed: bool
    seconds: float

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return f"{self.name}: sagemaker {self.sdk_version}: {verdict} in {self.seconds:.0f} s"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def docker_api(folder: Path) -> Iterator[str]:
    """`podman system service` on a socket in ``folder``; yields its DOCKER_HOST."""
    sock = folder / "podman.sock"
    log = open(folder / "podman-service.log", "w")  # closed after the service stops
    service = subprocess.Popen(
        ["podman", "system", "service", "--time", "0", f"unix://{sock}"],
        env=build_image.engine_environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            if service.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"podman system service did not start: {(folder / 'podman-service.log').read_text()}"
                )
            time.sleep(0.1)
        yield f"unix://{sock}"
    finally:
        service.terminate()
        service.wait(timeout=30)
        log.close()


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], env=build_image.engine_environment(), capture_output=True, text=True
    )


def remove_leftovers(network_existed: bool) -> None:
    """The SDKs leave their stopped containers (and compose's network) behind, as with Docker: remove ours."""
    listed = podman("ps", "-a", "-q", "--filter", f"ancestor={IMAGE}").stdout.split()
    if listed:
        podman("rm", "-f", *listed)
    if not network_existed:
        podman("network", "rm", SDK_NETWORK)


def check_environment(docker_host: str) -> dict[str, str]:
    env = build_image.engine_environment()
    env.update(
        DOCKER_HOST=docker_host,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - fake credentials: nothing here reaches AWS
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",  # closed: an AWS call fails loudly
        SAGEMAKER_USER_CONFIG_OVERRIDE=str(SDK_CONFIG),
        SAGEMAKER_ADMIN_CONFIG_OVERRIDE=str(SDK_CONFIG),
        PYTHONUNBUFFERED="1",
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    return env


def sdk_version(python: Path) -> str:
    result = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('sagemaker'))"],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() or "not installed"


def run_check(name: str, env: dict[str, str], work: Path, data: Path) -> Outcome:
    python = VENVS / name / "bin" / "python"
    version = sdk_version(python)
    folder = work / name
    folder.mkdir()
    command = [str(python), str(CHECKS[name]), IMAGE, str(data), str(folder), str(free_port())]
    print(f"--- {name} (sagemaker {version}): {' '.join(command)}", flush=True)
    started = time.monotonic()
    try:
        passed = subprocess.run(command, env=env, cwd=folder, timeout=CHECK_TIMEOUT_S).returncode == 0
    except subprocess.TimeoutExpired:
        print(f"{name}: no result within {CHECK_TIMEOUT_S} s", file=sys.stderr)
        passed = False
    return Outcome(name, version, passed, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", choices=sorted(CHECKS), action="append", help="run only this SDK (repeatable)"
    )
    parser.add_argument("--keep-work", action="store_true", help="keep the SDKs' working folders")
    args = parser.parse_args(argv)
    for tool in ("podman", "docker", "docker-compose"):
        if shutil.which(tool) is None:
            raise SystemExit(f"sdk-check: `{tool}` is missing: run scripts/install-sdk-check-deps.sh as root")
    started = time.monotonic()
    print(f"sdk-check: building {IMAGE} from {PACKAGE.relative_to(ROOT)}", flush=True)
    build_image.build(PACKAGE, IMAGE)
    build_seconds = time.monotonic() - started
    work = Path(tempfile.mkdtemp(prefix="smp-sdk-check-"))
    data = work / "training-data"  # the channel's files: the iris CSV alone
    data.mkdir()
    shutil.copy(IRIS_CSV, data)
    network_existed = podman("network", "exists", SDK_NETWORK).returncode == 0
    try:
        with docker_api(work) as docker_host:
            env = check_environment(docker_host)
            outcomes = [run_check(name, env, work, data) for name in (args.only or sorted(CHECKS))]
    finally:
        remove_leftovers(network_existed)
        if args.keep_work:
            print(f"sdk-check: working folders kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"sdk-check: image build {build_seconds:.0f} s")
    for outcome in outcomes:
        print(outcome.line())
    return 0 if all(outcome.passed for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
