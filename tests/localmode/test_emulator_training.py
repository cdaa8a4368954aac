"""Training jobs in the emulator: the /opt/ml contract, model upload, metrics, events, failures."""

from __future__ import annotations

import io
import json
import os
import signal
import tarfile

import pytest

from localmode.aws.sagemaker.training import FAILURE_REASON_LIMIT, failure_reason
from tests.localmode.conftest import make_client, training_request, wait_for, wait_for_training


def test_completed_job_uploads_model_and_reports_metrics(sagemaker, emulator, moto_url, data_bucket, events):
    sagemaker.create_training_job(**training_request("job-ok", data_bucket))

    described = wait_for_training(sagemaker, "job-ok")

    assert described["TrainingJobStatus"] == "Completed"
    assert (
        described["ModelArtifacts"]["S3ModelArtifacts"]
        == f"s3://{data_bucket}/models/job-ok/output/model.tar.gz"
    )
    assert described["FinalMetricDataList"][0]["MetricName"] == "validation:accuracy"
    assert described["FinalMetricDataList"][0]["Value"] == pytest.approx(0.53)
    archive = make_client("s3", moto_url).get_object(
        Bucket=data_bucket, Key="models/job-ok/output/model.tar.gz"
    )
    with tarfile.open(fileobj=io.BytesIO(archive["Body"].read())) as tar:
        assert json.load(tar.extractfile("model.json"))["rows"] == 3
    base = emulator.sagemaker.workdir / "training" / "job-ok"
    assert (
        json.loads((base / "input/config/inputdataconfig.json").read_text())["train"]["TrainingInputMode"]
        == "File"
    )
    assert (base / "input/data/train/a.csv").read_text() == "1,2\n3,4\n5,6\n"
    statuses = [event["detail"]["TrainingJobStatus"] for event in events]
    assert statuses == ["InProgress", "Completed"]
    assert events[-1]["detail-type"] == "SageMaker Training Job State Change"
    assert events[-1]["detail"]["Tags"] == {"sagemaker-pipeline:stack": "unit"}
    assert isinstance(events[-1]["detail"]["CreationTime"], int)  # epoch milliseconds, as EventBridge sends


def test_failed_job_reports_the_failure_file(sagemaker, data_bucket, events):
    sagemaker.create_training_job(**training_request("job-fails", data_bucket, fail="true"))

    described = wait_for_training(sagemaker, "job-fails")

    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("AlgorithmError: ValueError: the stand-in was asked to fail")
    assert events[-1]["detail"]["FailureReason"] == described["FailureReason"]


def test_killed_training_process_fails_with_a_reason(sagemaker, emulator, data_bucket):
    sagemaker.create_training_job(**training_request("job-killed", data_bucket, sleep_seconds="30"))
    process = wait_for(
        lambda: emulator.sagemaker._training_processes.get("job-killed"), message="train to start"
    )

    os.kill(process.process.pid, signal.SIGKILL)
    described = wait_for_training(sagemaker, "job-killed")

    assert described["TrainingJobStatus"] == "Failed"
    assert "killed by SIGKILL" in described["FailureReason"]


def test_stop_training_job_ends_as_stopped(sagemaker, emulator, data_bucket):
    sagemaker.create_training_job(**training_request("job-stopped", data_bucket, sleep_seconds="30"))
    wait_for(lambda: emulator.sagemaker._training_processes.get("job-stopped"), message="train to start")

    sagemaker.stop_training_job(TrainingJobName="job-stopped")

    assert wait_for_training(sagemaker, "job-stopped")["TrainingJobStatus"] == "Stopped"


def test_duplicate_job_name_is_resource_in_use(sagemaker, data_bucket):
    sagemaker.create_training_job(**training_request("job-twice", data_bucket))
    with pytest.raises(sagemaker.exceptions.ResourceInUse):
        sagemaker.create_training_job(**training_request("job-twice", data_bucket))
    wait_for_training(sagemaker, "job-twice")


def test_unknown_image_fails_the_job_not_the_call(sagemaker, data_bucket):
    request = training_request("job-no-image", data_bucket)
    request["AlgorithmSpecification"]["TrainingImage"] = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/none:1"
    sagemaker.create_training_job(**request)
    described = wait_for_training(sagemaker, "job-no-image")
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("ClientError: Image")


def test_failure_reason_keeps_the_failure_files_headline_and_last_frames_within_1024(tmp_path):
    (tmp_path / "output").mkdir()
    frames = "\n".join(f"  /opt/ml/code/f{index}.py:{index} in f{index}" for index in range(100))
    (tmp_path / "output" / "failure").write_text(
        f"KeyError: 'label'\n\nLast frames:\n{frames}\n    raise KeyError"
    )

    reason = failure_reason(tmp_path, 1)

    assert len(reason) <= FAILURE_REASON_LIMIT == 1024
    assert reason.splitlines()[0] == "AlgorithmError: KeyError: 'label'"
    assert reason.endswith("  /opt/ml/code/f99.py:99 in f99\n    raise KeyError")


def test_failure_reason_without_a_failure_file_shows_the_last_output_not_the_exit_status_alone(tmp_path):
    (tmp_path / "train.log").write_text("reading /opt/ml/input/data/training\n\nno rows: the file is empty\n")
    reason = failure_reason(tmp_path, 3)
    assert (
        reason.splitlines()[0]
        == "AlgorithmError: train exited with code 3 and wrote no output/failure; its last output:"
    )
    assert reason.endswith("reading /opt/ml/input/data/training\nno rows: the file is empty")
