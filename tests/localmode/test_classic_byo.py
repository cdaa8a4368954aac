"""Code in SageMaker's classic bring-your-own style runs unchanged through local mode, with default
parameters: train reads the `training` channel at hard-coded /opt/ml paths and writes its own
failure file; serve runs nginx (a fixed port 8080) in front of gunicorn + flask. The package only
adds a pyproject.toml (tests/localmode/packages/classic_tree). Process mode and the real image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from localmode.run.session import LocalPipeline
from localmode.run.settings import LocalSettings
from tests.localmode.conftest import unique_stack_name

CLASSIC_TREE = Path(__file__).parent / "packages" / "classic_tree"
BAD_ROWS = b"0,5.1,3.5,1.4,0.2\n1,six,2.9,4.5,1.5\n"
OWN_MESSAGE = "Exception during training: could not convert string "  # numpy words the rest

pytestmark = pytest.mark.e2e


def classic_pipeline(tmp_path: Path, output: list[str], **settings: Any) -> LocalPipeline:
    local = LocalSettings(
        workdir=tmp_path / "local-run",
        stack_name=unique_stack_name(),
        moto_in_process=True,
        package=CLASSIC_TREE,
        **settings,
    )
    return LocalPipeline(local, output.append)


def train_serve_and_fail(pipeline: LocalPipeline, output: list[str], tmp_path: Path) -> str:
    """Push (trains, deploys, answers); then bad data: the run fails with the code's own message in
    the run record, the email, SageMaker's FailureReason and the terminal. Returns the serve log."""
    pipeline.start_services()
    pipeline.deploy()
    pipeline.seed_data()
    execution = pipeline.run_push()
    assert execution.status == "Succeeded", execution.failure
    run = pipeline.run_item(execution.execution_id)
    assert run["status"] == "Completed", run.get("failure_reason")
    assert pipeline.predict("5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3").split() == ["0", "2"]
    train_log = next((pipeline.settings.own_dir / "sagemaker" / "training").rglob("train.log")).read_text()
    assert "Training complete." in train_log
    assert "tree: depth" in train_log  # the package's console script ran from PATH

    bad = tmp_path / "bad.csv"
    bad.write_bytes(BAD_ROWS)
    pipeline.upload("input/bad.csv", bad.read_bytes())
    failed = pipeline.run_push()
    assert failed.status == "Failed" and failed.failed_stage == "Train"
    record = pipeline.run_item(failed.execution_id)
    assert record["status"] == "Failed"
    assert OWN_MESSAGE in record["failure_reason"]
    assert "exited with" not in record["failure_reason"]
    [mail] = [mail for mail in pipeline.emails() if "Failed" in mail["subject"]]
    assert OWN_MESSAGE in mail["message"]
    job = pipeline.client("sagemaker", pipeline.emulator.url).describe_training_job(
        TrainingJobName=record["training_job_name"]
    )
    assert job["FailureReason"].startswith(f"AlgorithmError: {OWN_MESSAGE}")
    assert any(OWN_MESSAGE in line for line in output)  # the terminal
    assert pipeline.predict("6.7,3.0,5.2,2.3").split() == ["2"]  # the good model still serves
    endpoint_dir = pipeline.settings.own_dir / "sagemaker" / "endpoints"
    return "\n".join(path.read_text() for path in endpoint_dir.rglob("serve.log"))


def test_classic_code_runs_unchanged_in_process_mode(tmp_path: Path):
    output: list[str] = []
    pipeline = classic_pipeline(tmp_path, output)
    try:
        serve_log = train_serve_and_fail(pipeline, output, tmp_path)
        # nginx's fixed 8080 would collide between endpoints: each gets a network of its own
        assert "own network namespace" in serve_log and "forwards to its port 8080" in serve_log
        assert "Starting the inference server" in serve_log
    finally:
        pipeline.close()


@pytest.mark.container
def test_classic_code_runs_unchanged_in_the_real_image(tmp_path: Path):
    """The build makes the offline base image (debootstrap) when it is missing, installs nginx from the
    package's debian-packages and flask + gunicorn from its dependencies."""
    output: list[str] = []
    pipeline = classic_pipeline(tmp_path, output, container_image=True)
    try:
        train_serve_and_fail(pipeline, output, tmp_path)
        pipeline.delete(purge=True)
    finally:
        pipeline.close()
