"""data_trigger: one run per burst, nothing lost inside the quiet window, bad records retried."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import data_trigger
import pytest
from common import clients
from lambda_helpers import INPUT_BUCKET, Intercept, client_error, load_event

UPLOAD_TIME = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def record(
    key: str, uploaded: float = UPLOAD_TIME, message_id: str = "", bucket: str = INPUT_BUCKET
) -> dict[str, Any]:
    base = load_event("sqs_s3_object_created")["Records"][0]
    body = json.loads(base["body"])
    body["detail"]["bucket"]["name"] = bucket
    body["detail"]["object"]["key"] = key
    body["time"] = iso(uploaded)
    result = copy.deepcopy(base)
    result["body"] = json.dumps(body)
    result["messageId"] = message_id or f"msg-{key}-{uploaded}"
    return result


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


class Pipeline:
    """StartPipelineExecution answered like CodePipeline (moto needs a real pipeline definition)."""

    def __init__(self) -> None:
        self.starts = Intercept(
            clients.client("codepipeline"),
            "StartPipelineExecution",
            lambda _params: {"pipelineExecutionId": f"00000000-0000-0000-0000-{len(self.starts.calls):012d}"},
        )


@pytest.fixture
def pipeline(aws) -> Pipeline:
    return Pipeline()


def run(event: dict[str, Any], now: float) -> dict[str, Any]:
    return data_trigger.handle(
        event,
        settings=data_trigger.DataTriggerSettings.from_environment,
        services=lambda settings: data_trigger.Services(
            clients.table(settings.table_name), clients.client("codepipeline"), lambda: now
        ),
    )


def failures(result: dict[str, Any]) -> list[str]:
    return [entry["itemIdentifier"] for entry in result["batchItemFailures"]]


def test_documented_event_through_the_handler_starts_one_run(aws, pipeline):
    result = data_trigger.handler(load_event("sqs_s3_object_created"), None)
    assert result == {"batchItemFailures": []}
    [start] = pipeline.starts.calls
    assert start["name"] == "demo-stack-pipeline"
    assert start["variables"] == [
        {"name": "TRIGGER", "value": "data"},
        {"name": "TRIGGER_DETAIL", "value": "input/train.csv"},
    ]
    assert len(start["clientRequestToken"]) == 64
    state = aws.item("#data-trigger")
    assert state["last_execution_id"] == "00000000-0000-0000-0000-000000000001"


def test_a_burst_in_one_batch_starts_exactly_one_run(aws, pipeline):
    uploads = [record(f"input/part-{index}.csv", UPLOAD_TIME + index) for index in range(25)]
    result = run(batch(*uploads), now=UPLOAD_TIME + 60)
    assert failures(result) == []
    [start] = pipeline.starts.calls
    detail = start["variables"][1]["value"]
    assert detail.startswith("input/part-0.csv, input/part-1.csv")


def test_a_burst_split_over_batches_starts_exactly_one_run(aws, pipeline):
    first = [record(f"input/a-{index}.csv", UPLOAD_TIME + index) for index in range(5)]
    second = [record(f"input/b-{index}.csv", UPLOAD_TIME + index) for index in range(5)]
    assert failures(run(batch(*first), now=UPLOAD_TIME + 60)) == []
    assert failures(run(batch(*second), now=UPLOAD_TIME + 61)) == []
    assert len(pipeline.starts.calls) == 1


def test_uploads_after_a_start_are_retried_then_start_the_next_run(aws, pipeline):
    assert failures(run(batch(record("input/a.csv")), now=UPLOAD_TIME + 60)) == []
    late = record("input/late.csv", UPLOAD_TIME + 70)

    deferred = run(batch(late), now=UPLOAD_TIME + 90)
    assert failures(deferred) == [late["messageId"]]
    assert len(pipeline.starts.calls) == 1

    redelivered = run(batch(late), now=UPLOAD_TIME + 200)
    assert failures(redelivered) == []
    assert len(pipeline.starts.calls) == 2
    assert pipeline.starts.calls[1]["variables"][1]["value"] == "input/late.csv"


def test_concurrent_batches_lose_the_claim_and_defer(aws, pipeline):
    """A second batch read the bookkeeping item before the first one claimed the start."""
    table = clients.table("demo-stack-metadata")
    stale = {"Item": {}}
    real_get = table.get_item

    def stale_read(**kwargs):
        real_get(**kwargs)
        return stale

    assert failures(run(batch(record("input/a.csv")), now=UPLOAD_TIME + 60)) == []
    table.get_item = stale_read
    try:
        other = record("input/b.csv", UPLOAD_TIME + 61)
        assert failures(run(batch(other), now=UPLOAD_TIME + 120)) == [other["messageId"]]
    finally:
        del table.get_item
    assert len(pipeline.starts.calls) == 1


@pytest.mark.parametrize(
    "ignored",
    [
        record("input/folder/"),
        record("other-prefix/data.csv"),
        record("input/data.csv", bucket="someone-elses-bucket"),
    ],
)
def test_folder_markers_other_prefixes_and_buckets_are_ignored(aws, pipeline, ignored):
    assert failures(run(batch(ignored), now=UPLOAD_TIME + 60)) == []
    assert pipeline.starts.calls == []


def test_malformed_records_are_returned_for_retry_and_the_rest_still_runs(aws, pipeline):
    good = record("input/a.csv")
    not_json = dict(good, messageId="bad-1", body="{truncated")
    not_s3 = dict(good, messageId="bad-2", body=json.dumps({"source": "aws.ec2", "detail": {}}))
    result = run(batch(good, not_json, not_s3, {"no": "id"}), now=UPLOAD_TIME + 60)
    assert failures(result) == ["bad-1", "bad-2"]
    assert len(pipeline.starts.calls) == 1


def test_failed_start_rolls_back_the_claim_and_retries_the_records(aws):
    Intercept(
        clients.client("codepipeline"),
        "StartPipelineExecution",
        client_error("ThrottlingException", status=400),
    )
    upload = record("input/a.csv")
    assert failures(run(batch(upload), now=UPLOAD_TIME + 60)) == [upload["messageId"]]
    assert "last_started_epoch" not in (aws.item("#data-trigger") or {})


def test_failed_start_after_an_earlier_run_restores_the_previous_start(aws, pipeline):
    assert failures(run(batch(record("input/a.csv")), now=UPLOAD_TIME + 60)) == []
    previous = aws.item("#data-trigger")["last_started_epoch"]
    pipeline.starts.respond = client_error("InternalError", status=500)
    later = record("input/b.csv", UPLOAD_TIME + 500)
    assert failures(run(batch(later), now=UPLOAD_TIME + 600)) == [later["messageId"]]
    assert aws.item("#data-trigger")["last_started_epoch"] == previous


def test_trigger_detail_is_capped_at_max_detail_chars():
    keys = [f"input/{'x' * 40}-{index}.csv" for index in range(100)]
    detail = data_trigger.trigger_detail(keys)
    assert len(detail) <= data_trigger.MAX_DETAIL_CHARS
    assert detail.endswith("more)")
    assert detail.startswith(f"input/{'x' * 40}-0.csv")


def test_not_an_sqs_batch_is_logged_and_acknowledged(aws, pipeline):
    assert run({"detail": "nope"}, now=UPLOAD_TIME) == {"batchItemFailures": []}
    assert pipeline.starts.calls == []


def test_a_crash_between_claim_and_start_loses_no_upload(aws, pipeline):
    upload = record("input/a.csv")
    pipeline.starts.respond = lambda _params: (_ for _ in ()).throw(RuntimeError("Lambda died here"))
    with pytest.raises(RuntimeError):
        run(batch(upload), now=UPLOAD_TIME + 60)
    pipeline.starts.respond = lambda _params: {"pipelineExecutionId": "00000000-0000-0000-0000-000000000009"}

    assert failures(run(batch(upload), now=UPLOAD_TIME + 61)) == [upload["messageId"]]
    assert failures(run(batch(upload), now=UPLOAD_TIME + 200)) == []
    tokens = {call["clientRequestToken"] for call in pipeline.starts.calls}
    assert len(pipeline.starts.calls) == 2 and len(tokens) == 1
    assert aws.item("#data-trigger")["last_execution_id"] == "00000000-0000-0000-0000-000000000009"
