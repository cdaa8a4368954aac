"""One training job as SageMaker runs it: an /opt/ml tree, channels copied from S3, `train`, model.tar.gz."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lambdas.common.failure_text import cap
from localmode.aws.processes import Spawn, terminate_group

FAILURE_REASON_LIMIT = 1024  # DescribeTrainingJob FailureReason: at most 1024 characters


def s3_prefix(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def prepare_tree(base_dir: Path, request: dict[str, Any], s3: Any) -> None:
    """Lay out /opt/ml/input/{config,data} exactly as SageMaker does before it starts `train`."""
    config_dir = base_dir / "input" / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    for name in ("model", "output", "output/data", "code"):
        (base_dir / name).mkdir(parents=True, exist_ok=True)
    (config_dir / "hyperparameters.json").write_text(json.dumps(request.get("HyperParameters", {})))
    channels = request.get("InputDataConfig", [])
    (config_dir / "inputdataconfig.json").write_text(
        json.dumps(
            {
                channel["ChannelName"]: {
                    "ContentType": channel.get("ContentType", ""),
                    "TrainingInputMode": channel.get("InputMode", "File"),
                    "S3DistributionType": channel["DataSource"]["S3DataSource"].get(
                        "S3DataDistributionType", "FullyReplicated"
                    ),
                    "RecordWrapperType": channel.get("RecordWrapperType", "None"),
                }
                for channel in channels
            }
        )
    )
    count = request["ResourceConfig"].get("InstanceCount", 1)
    hosts = [f"algo-{index + 1}" for index in range(count)]
    (config_dir / "resourceconfig.json").write_text(
        json.dumps({"current_host": hosts[0], "hosts": hosts, "network_interface_name": "eth0"})
    )
    for channel in channels:
        download_channel(s3, channel, base_dir / "input" / "data" / channel["ChannelName"])


def download_channel(s3: Any, channel: dict[str, Any], target: Path) -> None:
    source = channel["DataSource"]["S3DataSource"]
    bucket, prefix = s3_prefix(source["S3Uri"])
    target.mkdir(parents=True, exist_ok=True)
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/"):
                continue
            relative = key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]
            destination = (target / relative).resolve()
            if target.resolve() not in destination.parents:
                continue  # a key climbing out of the channel directory is never written
            destination.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(destination))


class MetricScanner:
    """The last value each MetricDefinitions regex captured in the job's log."""

    def __init__(self, definitions: list[dict[str, str]]) -> None:
        self._patterns = [(item["Name"], re.compile(item["Regex"])) for item in definitions]
        self.values: dict[str, float] = {}

    def feed(self, line: str) -> None:
        for name, pattern in self._patterns:
            match = pattern.search(line)
            if match and match.groups():
                try:
                    self.values[name] = float(match.group(1))
                except ValueError:
                    continue


class TrainingProcess:
    """The `train` process of one job; stop() ends it the way SageMaker's StopTrainingJob does."""

    def __init__(
        self, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path, spawn: Spawn = subprocess.Popen
    ) -> None:
        self._log = log_path.open("w", encoding="utf-8")
        self.process = spawn(
            argv,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self.stop_requested = threading.Event()

    def stream(self, on_line: Callable[[str], None]) -> int:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._log.write(line)
            self._log.flush()
            on_line(line)
        code = self.process.wait()
        self._log.close()
        return code

    def stop(self) -> None:
        self.stop_requested.set()
        terminate_group(self.process)


def failure_reason(base_dir: Path, returncode: int) -> str:
    failure_file = base_dir / "output" / "failure"
    if failure_file.is_file():
        text = failure_file.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            return cap(f"AlgorithmError: {text}", FAILURE_REASON_LIMIT)
    if returncode < 0:
        headline = f"AlgorithmError: the training process was killed by {signal.Signals(-returncode).name}"
    else:
        headline = f"AlgorithmError: train exited with code {returncode}"
    last_output = last_lines(base_dir / "train.log", 20)
    if not last_output:
        return f"{headline} and wrote no output/failure and no output"
    reason = f"{headline} and wrote no output/failure; its last output:\n{last_output}"
    return cap(reason, FAILURE_REASON_LIMIT)


def last_lines(log: Path, count: int) -> str:
    if not log.is_file():
        return ""
    lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return "\n".join(lines[-count:])


def package_model(base_dir: Path) -> Path:
    """model.tar.gz with the contents of /opt/ml/model at its root, as SageMaker uploads it."""
    archive = base_dir / "model.tar.gz"
    model_dir = base_dir / "model"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(model_dir)), recursive=False)
    return archive


def extract_model(archive: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(target, filter="data")
