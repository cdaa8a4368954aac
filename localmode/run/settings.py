"""What a local run is of: the stack, region, package, data and work directory, and the fixed values
local mode gives AWS (moto's account, the stack parameters, the rows the demo predicts)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from localmode import ROOT

DEFAULT_REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"  # moto's default account
SMOKE_TEST_KEY = "smoke/sample.csv"  # outside the training prefix: uploading it starts no run
SMOKE_PAYLOAD_ROWS = 3  # rows of the training data sent when nothing else names a payload
PACKAGE_TABLE = "sagemaker-pipeline"  # the package's [tool.sagemaker-pipeline] table
SMOKE_PAYLOAD_OPTION = "smoke-payload"  # its key naming the smoke test's request body
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
    build_cache: Path | None = None  # where builds (one per content key) live; default <workdir>/build
    # every training data file and its key (--data); empty: data_file at data_key
    data_uploads: list[tuple[Path, str]] = field(default_factory=list)
    smoke_payload: Path | None = None  # --smoke-payload: the smoke test's request body
    run_dir: Path | None = None  # this run's own directory (git, logs, SageMaker); default the workdir
    options: str = ""  # the run's options as typed (for the next steps printed after it)

    @property
    def build_dir(self) -> Path:
        return self.build_cache or self.workdir / "build"

    @property
    def own_dir(self) -> Path:
        return self.run_dir or self.workdir

    def uploads(self) -> list[tuple[Path, str]]:
        return self.data_uploads or [(self.data_file, self.data_key)]

    def smoke_payload_source(self) -> tuple[str, bytes]:
        """The smoke test's request body and where it came from: --smoke-payload, else the file the
        package's [tool.sagemaker-pipeline] table names (smoke-payload), else the first rows of the
        training data without their first column (the label, SageMaker's CSV convention)."""
        if self.smoke_payload is not None:
            return f"--smoke-payload {self.smoke_payload}", self.smoke_payload.read_bytes()
        declared = package_smoke_payload(self.package)
        if declared is not None:
            return f"{declared.name} ([tool.{PACKAGE_TABLE}] {SMOKE_PAYLOAD_OPTION})", declared.read_bytes()
        rows = first_rows(self.uploads()[0][0])
        return f"the first {len(rows)} rows of {self.uploads()[0][1]} without the label", (
            "\n".join(rows) + "\n"
        ).encode()

    def smoke_payload_suffix(self) -> str:
        source = self.smoke_payload or package_smoke_payload(self.package)
        return source.suffix if source is not None else ".csv"

    def smoke_payload_key(self) -> str:
        return self.stack_parameters().get("SmokeTestPayloadKey", "")

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
        if self.parameters.get("DeployEndpoint") == "false":
            del values["SmokeTestPayloadKey"]  # the template's rule: no smoke test without an endpoint
        elif self.smoke_payload_suffix() in (".json", ".npy"):
            values["SmokeTestPayloadKey"] = "smoke/sample" + self.smoke_payload_suffix()
        values.update(self.parameters)
        return values


def package_table(package: Path) -> dict:
    """The package's [tool.sagemaker-pipeline] table ({} without one)."""
    pyproject = package / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get(PACKAGE_TABLE, {})
    return table if isinstance(table, dict) else {}


def package_smoke_payload(package: Path) -> Path | None:
    """The sample file the package declares for the smoke test, relative to the package root."""
    declared = package_table(package).get(SMOKE_PAYLOAD_OPTION)
    return package / declared if isinstance(declared, str) and declared else None


def first_rows(data_file: Path, count: int = SMOKE_PAYLOAD_ROWS) -> list[str]:
    """The first rows of a headerless CSV without the label (its first column)."""
    rows = []
    with data_file.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                rows.append(line.strip().split(",", 1)[-1])
                if len(rows) == count:
                    break
    return rows


SAMPLE_ROW_INDEXES = (0, 50, 100)  # one flower of each iris species in examples/data/iris.csv


def sample_rows(data_file: Path) -> list[str]:
    """Feature rows for predictions: the data set's rows without the label (its first column)."""
    lines = [line for line in data_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [lines[index].split(",", 1)[-1] for index in SAMPLE_ROW_INDEXES if index < len(lines)]
