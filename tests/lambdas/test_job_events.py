"""job_events: run item updates under duplicate/out-of-order events, one email per outcome."""

from __future__ import annotations

from decimal import Decimal

import job_events
import pytest
from common import clients, logs, names, notify, runs, training_state
from lambda_helpers import EXECUTION_ID, JOB_NAME, MODEL_BUCKET, Intercept, client_error, load_event

ARTIFACT_KEY = f"training-output/{JOB_NAME}/output/model.tar.gz"


@pytest.fixture
def run(aws):
    """The run item train_trigger writes when it starts the job, and the model artifact."""
    aws.table.put_item(
        Item={
            "run_id": EXECUTION_ID,
            "training_job_name": JOB_NAME,
            "status": "InProgress",
            "trigger": "data",
            "trigger_detail": "input/train.csv",
            "git_commit": "3f2a9c1d6e0b4f7a8c9d0e1f2a3b4c5d6e7f8a9b",
            "git_repository": "octo/gamesbiz",
            "git_branch": "main",
            "image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo-stack:3f2a9c1",
            "instance_config": {"instance_type": "ml.m5.large", "instance_count": 1, "use_spot": False},
        }
    )
    version = aws.s3.put_object(Bucket=MODEL_BUCKET, Key=ARTIFACT_KEY, Body=b"model")["VersionId"]
    return version


def test_completed_event_records_the_outcome_and_sends_one_email(aws, run):
    result = job_events.handler(load_event("training_completed"), None)

    assert result == {"outcome": "recorded+notified"}
    item = aws.item()
    assert item["status"] == "Completed"
    assert item["final_metrics"] == {"validation:accuracy": Decimal("0.93")}
    assert item["model_artifact_uri"] == f"s3://{MODEL_BUCKET}/{ARTIFACT_KEY}"
    assert item["model_artifact_version"] == run
    assert item["billable_seconds"] == 300
    assert item["started_at"] == "2020-03-10T09:18:09Z"
    assert item["ended_at"] == "2020-03-10T09:23:09Z"
    assert "failure_reason" not in item
    [(subject, body)] = aws.emails()
    assert subject == f"[demo-stack] Training Completed: {JOB_NAME}"
    assert f"Run id:         {EXECUTION_ID}" in body
    assert "Git commit:     3f2a9c1d6e0b4f7a8c9d0e1f2a3b4c5d6e7f8a9b (octo/gamesbiz, branch main)" in body
    assert "Trigger:        data (input/train.csv)" in body
    assert "validation:accuracy = 0.93" in body
    assert f"Model artifact: s3://{MODEL_BUCKET}/{ARTIFACT_KEY} (version {run})" in body
    assert (
        f"https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1#/jobs/{JOB_NAME}" in body
    )
    assert "Failure reason" not in body


def test_a_metric_without_a_name_is_not_recorded(aws, run):
    """SageMaker's MetricName has at least one character; an event carrying an empty one (a fuzz case
    that made moto answer UpdateItem's ALL_NEW with an unparsable map) records the named ones only."""
    event = load_event("training_completed")
    event["detail"]["FinalMetricDataList"].append(
        {"MetricName": "", "Value": 0.5, "Timestamp": event["detail"]["FinalMetricDataList"][0]["Timestamp"]}
    )

    assert job_events.handler(event, None) == {"outcome": "recorded+notified"}
    assert aws.item()["final_metrics"] == {"validation:accuracy": Decimal("0.93")}


def test_failed_event_emails_the_failure_reason(aws, run):
    job_events.handler(load_event("training_failed"), None)
    item = aws.item()
    assert item["status"] == "Failed"
    assert item["failure_reason"].startswith("AlgorithmError: ValueError: Input contains NaN")
    assert "model_artifact_uri" not in item
    [(subject, body)] = aws.emails()
    assert subject == f"[demo-stack] Training Failed: {JOB_NAME}"
    assert "Failure reason: AlgorithmError: ValueError: Input contains NaN" in body
    assert "Final metrics:  none reported" in body


def test_a_long_failure_reason_keeps_its_headline_and_last_lines_in_the_record_and_the_email(aws, run):
    event = load_event("training_failed")
    frames = [f"  /opt/ml/code/step{index}.py:{index} in step{index}" for index in range(200)]
    reason = "\n".join(["AlgorithmError: KeyError: 'label' column missing in training.csv", *frames])
    event["detail"]["FailureReason"] = reason + "\nKeyError: 'label'"

    job_events.handler(event, None)

    recorded = aws.item()["failure_reason"]
    assert len(recorded) <= training_state.FAILURE_REASON_LIMIT
    lines = recorded.splitlines()
    assert lines[0] == "AlgorithmError: KeyError: 'label' column missing in training.csv"
    assert lines[1].startswith("… ") and lines[1].endswith(" lines omitted …")
    assert lines[-1] == "KeyError: 'label'"
    [(_subject, body)] = aws.emails()
    assert "Failure reason: AlgorithmError: KeyError: 'label' column missing in training.csv\n" in body
    assert "\n                KeyError: 'label'\n" in body  # the explaining line, aligned under the reason


def test_stopped_event_is_terminal_and_emailed(aws, run):
    job_events.handler(load_event("training_stopped"), None)
    assert aws.item()["status"] == "Stopped"
    [(subject, _body)] = aws.emails()
    assert subject == f"[demo-stack] Training Stopped: {JOB_NAME}"


def test_in_progress_event_keeps_the_run_in_progress_without_email(aws, run):
    assert job_events.handler(load_event("training_inprogress"), None) == {"outcome": "in-progress"}
    assert aws.item()["status"] == "InProgress"
    assert aws.emails() == []


def test_duplicate_terminal_events_send_one_email(aws, run):
    job_events.handler(load_event("training_completed"), None)
    assert job_events.handler(load_event("training_completed"), None) == {"outcome": "duplicate"}
    assert len(aws.emails()) == 1


@pytest.mark.parametrize("late", ["training_inprogress", "training_failed", "training_stopped"])
def test_late_events_never_regress_a_terminal_status(aws, run, late):
    job_events.handler(load_event("training_completed"), None)
    job_events.handler(load_event(late), None)
    item = aws.item()
    assert item["status"] == "Completed"
    assert "failure_reason" not in item
    assert len(aws.emails()) == 1


def test_events_of_an_earlier_attempt_do_not_touch_the_current_one(aws, run):
    aws.table.update_item(
        Key={"run_id": EXECUTION_ID},
        UpdateExpression="SET training_job_name = :n",
        ExpressionAttributeValues={":n": names.resource_name("demo-stack", EXECUTION_ID, 2)},
    )
    assert job_events.handler(load_event("training_failed"), None) == {"outcome": "ignored"}
    assert aws.item()["status"] == "InProgress"
    assert aws.emails() == []


def test_jobs_of_other_stacks_are_ignored(aws, run):
    event = load_event("training_completed")
    event["detail"]["Tags"]["sagemaker-pipeline:stack"] = "another-stack"
    assert job_events.handler(event, None) == {"outcome": "ignored"}
    untagged = load_event("training_completed")
    untagged["detail"]["Tags"] = {}
    untagged["detail"]["TrainingJobName"] = "xgboost-2026-11-28-12-00-00"
    assert job_events.handler(untagged, None) == {"outcome": "ignored"}
    assert aws.item()["status"] == "InProgress"
    assert aws.emails() == []


def test_job_without_a_run_item_is_ignored(aws):
    assert job_events.handler(load_event("training_completed"), None) == {"outcome": "ignored"}
    assert aws.emails() == []


def test_a_failed_publish_releases_the_claim_so_a_retry_sends_the_email(aws, run):
    publishes = Intercept(
        clients.client("sns"), "Publish", client_error("InternalError", "SNS down", status=500)
    )
    with pytest.raises(Exception, match="InternalError"):
        job_events.handler(load_event("training_completed"), None)
    assert len(publishes.calls) == 1
    assert aws.item()["status"] == "Completed" and "notified_job" not in aws.item()
    publishes.respond = None  # SNS recovered: Lambda's retry of the same event

    assert job_events.handler(load_event("training_completed"), None) == {"outcome": "duplicate+notified"}
    assert len(aws.emails()) == 1


def test_train_trigger_and_job_events_recording_the_same_outcome_send_one_email(aws, run):
    described = dict(load_event("training_completed")["detail"])
    log = logs.Log("test")
    settings = runs.RecordSettings("demo-stack", MODEL_BUCKET, aws.topic_arn, "demo-stack-metadata")
    services = runs.RecordServices(aws.table, aws.s3)
    state = training_state.TrainingJobState.from_description(described)
    assert runs.record_training_state(state, EXECUTION_ID, settings, services, log) == "recorded+notified"
    assert job_events.handler(load_event("training_completed"), None) == {"outcome": "duplicate"}
    assert len(aws.emails()) == 1


@pytest.mark.parametrize(
    ("region", "console"),
    [
        ("eu-west-1", "https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1"),
        ("cn-north-1", "https://console.amazonaws.cn/sagemaker/home?region=cn-north-1"),
        ("us-gov-west-1", "https://console.amazonaws-us-gov.com/sagemaker/home?region=us-gov-west-1"),
    ],
)
def test_console_links_follow_the_partition_of_the_region(region, console):
    settings = runs.RecordSettings("demo-stack", MODEL_BUCKET, "arn:topic", "demo-stack-metadata")
    item = {"run_id": EXECUTION_ID, "training_job_name": JOB_NAME, "status": "Failed", "failure_reason": "x"}
    subject, body = notify.training_outcome_email(item, settings.stack_name, settings.table_name, region)
    assert subject == f"[demo-stack] Training Failed: {JOB_NAME}"
    assert f"{console}#/jobs/{JOB_NAME}" in body
    assert "Failure reason: x" in body
    assert f"table=demo-stack-metadata&itemMode=2&pk={EXECUTION_ID}" in body


def test_long_subjects_stay_within_the_sns_limit():
    settings = runs.RecordSettings("s" * 80, MODEL_BUCKET, "arn:topic")
    subject, _body = notify.training_outcome_email(
        {"training_job_name": JOB_NAME, "status": "Completed"}, settings.stack_name, "", "eu-west-1"
    )
    assert len(subject) <= 100


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1583831889050", "2020-03-10T09:18:09Z"),
        (1583831889050, "2020-03-10T09:18:09Z"),
        (1583831889050.0, "2020-03-10T09:18:09Z"),
        ("2020-03-10T09:18:09Z", "2020-03-10T09:18:09Z"),
        ("yesterday", ""),
        (None, ""),
        (True, ""),
        (float("nan"), ""),
    ],
)
def test_event_timestamps_are_normalised_to_iso_utc(value, expected):
    assert training_state.timestamp(value) == expected


def test_capacity_failures_tell_the_reader_which_parameter_to_change():
    settings = runs.RecordSettings("demo-stack", MODEL_BUCKET, "arn:topic")
    item = {
        "training_job_name": JOB_NAME,
        "status": "Failed",
        "failure_reason": "CapacityError: Unable to provision requested ML compute capacity.",
    }
    _subject, body = notify.training_outcome_email(item, settings.stack_name, "", "eu-west-1")
    assert "What to do:" in body and "TrainingInstanceType" in body and "UseSpotTraining=false" in body
