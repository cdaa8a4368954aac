"""The local SQS event source mapping: Lambda's record shape, deletes on success, retries failures."""

from __future__ import annotations

import json

from localmode.pipeline.event_source import SqsEventSource
from tests.localmode.conftest import REGION, make_client, unique_stack_name, wait_for


def test_handled_records_are_deleted_and_reported_failures_come_back(moto_url):
    sqs = make_client("sqs", moto_url)
    queue_url = sqs.create_queue(QueueName=unique_stack_name())["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    for key in ("input/a.csv", "input/b.csv"):
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"detail": {"object": {"key": key}}}))
    batches = []

    def data_trigger(function: str, event: dict) -> dict:
        batches.append((function, event))
        retry = (
            [r["messageId"] for r in event["Records"] if "b.csv" in r["body"]] if len(batches) == 1 else []
        )
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in retry]}

    source = SqsEventSource(
        sqs=sqs,
        queue_url=queue_url,
        queue_arn=queue_arn,
        region=REGION,
        function_name="data-trigger-fn",
        invoke=data_trigger,
        retry_delay_seconds=0,
    )

    assert source.poll_once() == 2
    record = batches[0][1]["Records"][0]
    assert batches[0][0] == "data-trigger-fn"
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == queue_arn
    assert record["awsRegion"] == REGION and record["receiptHandle"] and record["md5OfBody"]
    assert "ApproximateReceiveCount" in record["attributes"]
    wait_for(lambda: source.poll_once(), message="the failed record to come back")
    assert "b.csv" in batches[1][1]["Records"][0]["body"] and len(batches[1][1]["Records"]) == 1
    assert source.poll_once() == 0  # both handled: nothing left
