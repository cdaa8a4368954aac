"""What a local run is of: the stack, region, package, data and work directory, and the fixed values
local mode gives AWS (moto's account, the stack parameters, the rows the demo predicts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from localmode import ROOT

DEFAULT_REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"  # moto's default account
SMOKE_TEST_KEY = "smoke/sample.csv"  # outside the training prefix: uploading it starts no run
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


@dataclass
class LocalSettings:
    workdir: Path = ROOT / ".local-run"
    stack_name: str = "smp-demo"
    region: str = DEFAULT_REGION
    package: Path = ROOT / "examples" / "iris_model"
    data_file: Path = ROOT / "examples" / "data" / "iris.csv"
    data_key: str = "input/iris.csv"
    email: str = "you@example.com"
    moto_in_process: bool = False
    parameters: dict[str, str] = field(default_factory=dict)
    serve_timeout_seconds: float = 60.0
    poll_seconds: float = 0.3
    container_image: bool = False  # build and run the real image with podman
    build_cache: Path | None = None  # where builds (one per commit) live; default <workdir>/build

    @property
    def build_dir(self) -> Path:
        return self.build_cache or self.workdir / "build"

    def stack_parameters(self) -> dict[str, str]:
        values = {
            "GitHubOwner": "local",
            "GitHubRepo": self.package.name.replace("_", "-"),
            "GitHubBranch": "main",
            "CodeConnectionArn": (
                f"arn:aws:codeconnections:{self.region}:{ACCOUNT_ID}:connection/00000000-0000-4000-8000-000000000000"
            ),
            "NotificationEmail": self.email,
            "LambdaCodeBucket": "smp-local-code",
            "LambdaCodeKey": "sagemaker-pipeline/lambdas.zip",
            "DataTriggerQuietSeconds": "0",
            "SmokeTestPayloadKey": SMOKE_TEST_KEY,
        }
        values.update(self.parameters)
        return values


SAMPLE_ROW_INDEXES = (0, 50, 100)  # one flower of each iris species in examples/data/iris.csv


def sample_rows(data_file: Path) -> list[str]:
    """Feature rows for predictions: the data set's rows without the label (its first column)."""
    lines = [line for line in data_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [lines[index].split(",", 1)[-1] for index in SAMPLE_ROW_INDEXES if index < len(lines)]
