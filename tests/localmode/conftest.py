"""Fixtures for local mode: moto on 127.0.0.1, the emulator, a stand-in runtime honouring the contract."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from localmode.aws.emulator import Emulator
from localmode.aws.moto_service import MotoThread
from localmode.aws.sagemaker.runtimes import ProcessRuntime
from localmode.run.session import LocalPipeline
from localmode.run.settings import LocalSettings

REGION = "eu-west-1"
STANDIN_BIN = Path(__file__).resolve().parent / "standin" / "bin"
STANDIN_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/standin:1"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = MotoThread()
    yield server.url
    server.stop()


def make_client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name=REGION)


@pytest.fixture
def data_bucket(moto_url: str) -> str:
    s3 = make_client("s3", moto_url)
    name = f"data-{time.monotonic_ns()}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=name, Key="input/a.csv", Body=b"1,2\n3,4\n5,6\n")
    return name


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def emulator(moto_url: str, tmp_path: Path, events: list[dict[str, Any]]) -> Iterator[Emulator]:
    instance = Emulator(
        moto_url=moto_url,
        workdir=tmp_path / "sagemaker",
        region=REGION,
        account_id="123456789012",
        s3_factory=lambda _role="": make_client("s3", moto_url),
        on_event=events.append,
        serve_timeout_seconds=20,
    ).start()
    instance.images.register(STANDIN_IMAGE, ProcessRuntime(STANDIN_BIN))
    yield instance
    instance.stop()


@pytest.fixture
def sagemaker(emulator: Emulator) -> Any:
    return make_client("sagemaker", emulator.url)


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


def training_request(name: str, bucket: str, **hyperparameters: str) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": STANDIN_IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "validation:accuracy", "Regex": "accuracy=([0-9.]+)"}],
        },
        "RoleArn": "arn:aws:iam::123456789012:role/smp-sagemaker-execution",
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/input/"}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
        "HyperParameters": hyperparameters,
        "Tags": [{"Key": "sagemaker-pipeline:stack", "Value": "unit"}],
    }


def wait_for_training(sagemaker: Any, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: (
            (d := sagemaker.describe_training_job(TrainingJobName=name))["TrainingJobStatus"]
            in ("Completed", "Failed", "Stopped")
            and d
        ),
        message=f"training job {name} to end",
    )


def unique_stack_name() -> str:
    """In-process moto servers share one account: each end-to-end test deploys its own stack."""
    return f"smp-{uuid.uuid4().hex[:8]}"


def logical_role(name: str) -> str:
    """The template's name for a deployed role ("stack-PipelineRole-ABC12" -> "PipelineRole"); a
    service principal the IAM gate decided for (events.amazonaws.com) is its own name."""
    return name if "." in name else name.rsplit("-", 2)[1]


def quiet_pipeline(tmp_path: Path, **settings: Any) -> LocalPipeline:
    """A local deployment of its own stack, moto in this process, no progress output."""
    local = LocalSettings(
        workdir=tmp_path / "local-run", stack_name=unique_stack_name(), moto_in_process=True, **settings
    )
    return LocalPipeline(local, lambda line: None)


@pytest.fixture(scope="session")
def shared_build_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Builds are keyed by commit sha; sharing them keeps the end-to-end tests fast."""
    return tmp_path_factory.mktemp("local-builds")


def read_until_kept(keeper: Any) -> str:
    """What a `run --keep` printed up to its "Still running" block (its last line names the teardown)."""
    lines: list[str] = []
    assert keeper.stdout is not None
    for line in keeper.stdout:
        lines.append(line)
        if "tear down:" in line and any("Still running" in seen for seen in lines):
            break
    output = "".join(lines)
    assert "Still running" in output, output
    return output
