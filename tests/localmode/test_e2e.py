"""End-to-end local mode, in-process: the same code as `python -m localmode run`, asserted on the run
records, the notifications, the emulator's state and live predictions."""

from __future__ import annotations

from pathlib import Path

import pytest

from localmode import ROOT
from localmode.run.demo import print_report, run_story
from localmode.run.session import LocalPipeline
from localmode.run.settings import sample_rows
from tests.localmode.conftest import logical_role, quiet_pipeline

pytestmark = pytest.mark.e2e

LINE_MODEL = ROOT / "tests" / "localmode" / "packages" / "line_model"
IRIS_FAILING_MESSAGE = (
    "iris_failing refuses to train: this example fails on purpose to exercise the failure path"
)
RMSE = '[{"Name":"validation:rmse","Regex":"validation:rmse=([0-9.e-]+)"}]'


@pytest.fixture
def pipeline(tmp_path: Path, shared_build_cache: Path):
    instance = quiet_pipeline(tmp_path, build_cache=shared_build_cache)
    yield instance
    instance.close()


def data_versions(pipeline: LocalPipeline, key: str) -> list[str]:
    s3 = pipeline.client("s3")
    versions = s3.list_object_versions(Bucket=pipeline.outputs["TrainingInputBucket"], Prefix=key)["Versions"]
    return [item["VersionId"] for item in sorted(versions, key=lambda item: item["LastModified"])]


def test_push_then_data_upload_trains_and_updates_one_endpoint(pipeline):
    run_story(pipeline)

    # The unmodified template authorises every request the handlers make in a full run.
    assert pipeline.iam_gate.denials == []
    counts = pipeline.iam_gate.counts
    authorised = {logical_role(role): by_outcome["allowed"] for role, by_outcome in counts.items()}
    assert set(authorised) >= {
        "TrainTriggerRole",
        "JobEventsRole",
        "DataTriggerRole",
        "DeployEndpointRole",
        "SageMakerExecutionRole",  # the emulator reads the data and writes the model as SageMaker does
        "PipelineRole",  # CodePipeline: the connection, the artifacts, the build, the stage functions
        "BuildRole",  # CodeBuild: logs, artifacts, the bundle, the ECR push
        "events.amazonaws.com",  # EventBridge: upload events into the queue, job events to the function
    }
    assert all(count > 0 for count in authorised.values())
    sagemaker_actions = {
        simulation.action
        for who, simulation, _result in pipeline.iam_gate.decided
        if logical_role(who) == "SageMakerExecutionRole"
    }  # the job's data, its model, and its log written to CloudWatch Logs as the execution role
    assert {"s3:GetObject", "s3:PutObject", "logs:CreateLogStream", "logs:PutLogEvents"} <= sagemaker_actions

    runs = pipeline.runs()
    assert [run["trigger"] for run in runs] == ["push", "data"]
    assert {run["git_commit"] for run in runs} == {pipeline.revision.commit}
    key = pipeline.settings.data_key
    first_version, second_version = data_versions(pipeline, key)
    assert runs[0]["data_objects"] == {key: first_version}
    assert runs[1]["data_objects"] == {key: second_version}
    assert runs[1]["trigger_detail"] == key
    for run in runs:
        assert run["status"] == "Completed", run.get("failure_reason")
        assert 0.0 < run["final_metrics"]["validation:accuracy"] <= 1.0
        assert run["image_digest"].startswith("sha256:")
        assert run["model_artifact_uri"].startswith(f"s3://{pipeline.outputs['ModelArtifactBucket']}/")
        assert run["deploy_status"] == "InService"
        assert run["endpoint_name"] == pipeline.outputs["EndpointName"]
    assert runs[0]["endpoint_config_name"] != runs[1]["endpoint_config_name"]
    calls = pipeline.emulator.calls
    assert (
        calls.count(("sagemaker", "CreateEndpoint")) == 1
        and calls.count(("sagemaker", "UpdateEndpoint")) == 1
    )
    assert calls.count(("sagemaker", "CreateTrainingJob")) == 2
    assert ("sagemaker-runtime", "InvokeEndpoint") in calls  # the deployment's smoke test

    emails = pipeline.emails()
    assert (
        len([mail for mail in emails if "Completed" in mail["subject"] or "Succeeded" in mail["subject"]])
        == 2
    )
    endpoint = pipeline.client("sagemaker", pipeline.emulator.url).describe_endpoint(
        EndpointName=pipeline.outputs["EndpointName"]
    )
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == runs[1]["endpoint_config_name"]
    predictions = pipeline.predict("\n".join(sample_rows(pipeline.settings.data_file))).split()
    assert len(predictions) == 3
    assert all(float(value) in (0.0, 1.0, 2.0) for value in predictions)


def test_failing_package_records_failure_and_keeps_the_endpoint(pipeline):
    run_story(pipeline, second_run=False)
    good = pipeline.runs()[0]
    assert good["status"] == "Completed", good.get("failure_reason")

    terminal: list[str] = []
    pipeline.progress.write = terminal.append
    pipeline.settings.package = ROOT / "examples" / "iris_failing"
    execution = pipeline.run_push()

    assert execution.status == "Failed" and execution.failed_stage == "Train"
    failed = pipeline.run_item(execution.execution_id)
    assert failed["status"] == "Failed"
    assert "deploy_status" not in failed
    # The code's own message everywhere, never an exit status alone: the run record keeps the
    # headline and the last frames down to the code's raise...
    reason = failed["failure_reason"].splitlines()
    assert reason[0] == f"AlgorithmError: RuntimeError: {IRIS_FAILING_MESSAGE}"
    assert reason[-1].strip() == "raise RuntimeError(FAILURE_MESSAGE)"
    # ...the email says the same...
    failure_mails = [mail for mail in pipeline.emails() if "Failed" in mail["subject"]]
    assert len(failure_mails) == 1 and failed["training_job_name"] in failure_mails[0]["subject"]
    mail = failure_mails[0]["message"]
    assert f"Failure reason: AlgorithmError: RuntimeError: {IRIS_FAILING_MESSAGE}\n" in mail
    assert "raise RuntimeError(FAILURE_MESSAGE)" in mail
    # ...and the terminal: the whole first line on the FAILED line, the explaining lines in the report.
    [train_line] = [line for line in terminal if "] Train    FAILED: " in line]
    assert train_line.endswith(f"AlgorithmError: RuntimeError: {IRIS_FAILING_MESSAGE}")
    report: list[str] = []
    print_report(pipeline, report.append)
    why = "\n".join(report).split("Why runs failed", 1)[1].split("Emails SNS would have sent", 1)[0]
    assert f"    AlgorithmError: RuntimeError: {IRIS_FAILING_MESSAGE}\n" in why
    assert "raise RuntimeError(FAILURE_MESSAGE)" in why
    assert f"Failure reason: AlgorithmError: RuntimeError: {IRIS_FAILING_MESSAGE}" in "\n".join(report)
    assert not any("exited with" in text for text in (train_line, failed["failure_reason"], mail, why))
    endpoint = pipeline.client("sagemaker", pipeline.emulator.url).describe_endpoint(
        EndpointName=pipeline.outputs["EndpointName"]
    )
    assert endpoint["EndpointConfigName"] == good["endpoint_config_name"]
    assert len(pipeline.predict(sample_rows(pipeline.settings.data_file)[0]).split()) == 1


def test_the_stacks_batching_parameters_reach_the_serving_process(tmp_path: Path, shared_build_cache: Path):
    """EndpointMaxBatchSize and EndpointMaxBatchDelayMs go through the deploy handler into the model's
    container environment, and the built-in server starts with them."""
    pipeline = quiet_pipeline(
        tmp_path,
        build_cache=shared_build_cache,
        parameters={"EndpointMaxBatchSize": "8", "EndpointMaxBatchDelayMs": "2"},
    )
    try:
        pipeline.start_services()
        pipeline.deploy()
        pipeline.seed_data()
        assert pipeline.run_push().status == "Succeeded"
        sagemaker = pipeline.client("sagemaker", pipeline.emulator.url)
        release = pipeline.runs()[-1]["endpoint_config_name"]
        container = sagemaker.describe_model(ModelName=release)["PrimaryContainer"]
        assert container["Environment"] == {
            "MODEL_SERVER_MAX_BATCH_SIZE": "8",
            "MODEL_SERVER_MAX_BATCH_DELAY_MS": "2",
        }
        logs = "".join(path.read_text() for path in pipeline.settings.workdir.rglob("serve.log"))
        assert "micro-batching up to 8 requests, up to 2 ms delay" in logs
        assert pipeline.predict(sample_rows(pipeline.settings.data_file)[0]).strip()
    finally:
        pipeline.close()


def test_a_stack_moved_from_the_train_channel_to_the_default_keeps_training_code_that_reads_train(
    tmp_path: Path, shared_build_cache: Path
):
    """The upgrade: a stack deployed with TrainingChannelName=train, then updated to the default
    (training), trains the same package reading the hard-coded input/data/train/ before and after."""
    pipeline = quiet_pipeline(
        tmp_path,
        build_cache=shared_build_cache,
        package=LINE_MODEL,
        data_file=LINE_MODEL / "data" / "line.csv",
        data_key="input/line.csv",
        parameters={"TrainingChannelName": "train", "MetricDefinitions": RMSE},
    )
    try:
        pipeline.start_services()
        pipeline.deploy()
        pipeline.seed_data()
        before = pipeline.run_push()
        pipeline.update_stack({"TrainingChannelName": None})
        after = pipeline.run_push()

        sagemaker = pipeline.client("sagemaker", pipeline.emulator.url)
        channels = []
        for execution in (before, after):
            run = pipeline.run_item(execution.execution_id)
            assert execution.status == "Succeeded" and run["status"] == "Completed", run.get("failure_reason")
            assert "validation:rmse" in run["final_metrics"]
            described = sagemaker.describe_training_job(TrainingJobName=run["training_job_name"])
            channels += [channel["ChannelName"] for channel in described["InputDataConfig"]]
        assert channels == ["train", "training"]
        stack = pipeline.client("cloudformation").describe_stacks(StackName=pipeline.settings.stack_name)
        assert {"ParameterKey": "TrainingChannelName", "ParameterValue": "training"} in stack["Stacks"][0][
            "Parameters"
        ]
    finally:
        pipeline.close()
