"""A moto server for the launch script tests (one per module) and a runner for the real script."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from localmode.aws import strict_moto

from .moto_fixes import change_set_outputs_fixed

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "launch-cicd-pipeline.sh"
TEMPLATE = ROOT / "template" / "sagemaker-pipeline.yaml"
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account

RunScript = Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    strict_moto.apply()  # AWS's limits moto lacks (a TemplateBody over 51,200 bytes is refused)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    with change_set_outputs_fixed():
        server.start()
        _, port = server.get_host_and_port()
        # "localhost", not 127.0.0.1: moto only resolves a deploy's TemplateURL when the URL says localhost.
        yield f"http://localhost:{port}"
        server.stop()


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    """An empty pipeline.env, so a developer's own copy never leaks into a test."""
    path = tmp_path / "pipeline.env"
    path.write_text("")
    return path


@pytest.fixture
def launch(moto_endpoint: str, settings_file: Path) -> RunScript:
    """Runs launch-cicd-pipeline.sh against moto; extra environment variables as `env=`."""

    def run(
        *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess:
        environment = {name: value for name, value in os.environ.items() if not name.startswith("SMP_")}
        environment.update(
            AWS_ENDPOINT_URL=moto_endpoint, SMP_POLL_SECONDS="2", SMP_ENV_FILE=str(settings_file)
        )
        environment.update(env or {})
        return subprocess.run(
            [str(SCRIPT), *args],
            env=environment,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    return run


@pytest.fixture
def stack_name() -> str:
    return f"launch-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def aws_client(moto_endpoint: str) -> Callable[..., object]:
    def client(service: str, region: str = REGION):
        return boto3.client(service, region_name=region, endpoint_url=moto_endpoint)

    return client
