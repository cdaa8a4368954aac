"""Local-mode faults, end to end with the real handlers: a killed training process, a model that fails
to load on update, a data upload while a run trains."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from localmode.run.session import LocalPipeline
from tests.localmode.conftest import quiet_pipeline, wait_for

pytestmark = pytest.mark.e2e
FAULT_MODEL = Path(__file__).resolve().parent / "packages" / "fault_model"


@pytest.fixture
def make_pipeline(tmp_path: Path, shared_build_cache: Path):
    created = []

    def make(first_rows: str, own_build_cache: bool = False) -> LocalPipeline:
        data_file = tmp_path / "data.csv"
        data_file.write_text(first_rows)
        pipeline = quiet_pipeline(
            tmp_path,
            package=FAULT_MODEL,
            data_file=data_file,
            build_cache=tmp_path / "builds" if own_build_cache else shared_build_cache,
        )
        created.append(pipeline)
        pipeline.start_services()
        pipeline.deploy()
        pipeline.seed_data()
        pipeline.start_data_trigger()
        return pipeline

    yield make
    for pipeline in created:
        pipeline.close()


def in_background(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_killed_training_process_fails_the_run_and_sends_an_email(make_pipeline):
    pipeline = make_pipeline("1\nsleep\n")
    player = in_background(pipeline.run_push)
    processes = pipeline.emulator.sagemaker._training_processes
    process = wait_for(lambda: next(iter(processes.values()), None), timeout=60, message="training to start")

    os.kill(process.process.pid, signal.SIGKILL)
    player.join(timeout=60)

    [run] = pipeline.runs()
    assert run["status"] == "Failed"
    assert "killed by SIGKILL" in run["failure_reason"]
    assert "deploy_status" not in run
    assert [mail["subject"] for mail in pipeline.emails()] == [
        f"[{pipeline.settings.stack_name}] Training Failed: {run['training_job_name']}"
    ]
    assert pipeline.executions[0].status == "Failed" and pipeline.executions[0].failed_stage == "Train"


def test_model_that_fails_to_load_leaves_the_previous_endpoint_serving(make_pipeline):
    pipeline = make_pipeline("1\n2\n")
    first = pipeline.run_push()
    assert first.status == "Succeeded", first.failure
    served_before = pipeline.run_item(first.execution_id)["endpoint_config_name"]
    assert pipeline.predict("5,5").strip() == "2"

    pipeline.upload(pipeline.settings.data_key, b"1\nbroken\n")
    [second] = pipeline.play_pending(wait_seconds=30)

    assert second.status == "Failed" and second.failed_stage == "Deploy"
    run = pipeline.run_item(second.execution_id)
    assert run["status"] == "Completed"  # training itself succeeded
    assert run["deploy_status"] in ("RolledBack", "Failed")
    endpoint = pipeline.client("sagemaker", pipeline.emulator.url).describe_endpoint(
        EndpointName=pipeline.outputs["EndpointName"]
    )
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == served_before
    assert "cannot be loaded" in endpoint["FailureReason"]
    assert pipeline.predict("5,5").strip() == "2"  # still the first model


def test_upload_during_training_queues_one_more_run_and_loses_nothing(make_pipeline):
    pipeline = make_pipeline("1\n")
    first_upload = pipeline.upload("input/a.csv", b"slow\n")
    player = in_background(lambda: pipeline.play_pending(wait_seconds=30))
    processes = pipeline.emulator.sagemaker._training_processes
    wait_for(lambda: processes, timeout=60, message="the first data run to train")

    second_upload = pipeline.upload("input/b.csv", b"2\n")
    player.join(timeout=120)
    pipeline.play_pending(wait_seconds=5)  # a run queued after the player's last look

    runs = [run for run in pipeline.runs() if run["trigger"] == "data"]
    assert len(runs) == 2
    assert all(run["status"] == "Completed" for run in runs)
    for key, version in (("input/a.csv", first_upload), ("input/b.csv", second_upload)):
        triggered = [
            run
            for run in runs
            if key in run["trigger_detail"].split() and run["data_objects"].get(key) == version
        ]
        assert len(triggered) == 1, (key, [run["trigger_detail"] for run in runs])
