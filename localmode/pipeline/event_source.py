"""The Lambda SQS event source mapping, locally: poll the queue, hand batches to the function, delete
what it handled, and make the records it reported in batchItemFailures visible again for a retry."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from localmode.aws.awsmodel import ApiError

LOG = logging.getLogger(__name__)
SQS_UNBATCHED_MAX = 10  # a larger BatchSize needs a batching window (CreateEventSourceMapping reference)


def check_batching(batch_size: int, batching_window_seconds: int | None) -> None:
    """Lambda refuses an SQS mapping with BatchSize above 10 and a batching window under 1 second."""
    if batch_size > SQS_UNBATCHED_MAX and (batching_window_seconds or 0) < 1:
        raise ApiError(
            "InvalidParameterValueException",
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
        )


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of the event Lambda receives from SQS (AWS docs: 'Example Amazon SQS message event')."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {key: str(value) for key, value in message.get("Attributes", {}).items()},
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class SqsEventSource:
    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        function_name: str,
        invoke: Callable[[str, dict[str, Any]], Any],
        batch_size: int = 10,
        batching_window_seconds: int | None = None,
        retry_delay_seconds: int = 1,
        admit: Callable[[dict[str, Any]], bool] = lambda message: True,
    ) -> None:
        check_batching(batch_size, batching_window_seconds)
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.function_name = function_name
        self.invoke = invoke
        self.batch_size = min(batch_size, 10)
        self.retry_delay_seconds = retry_delay_seconds
        self.admit = admit  # False: the sender was not allowed to send it; AWS would never have queued it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive one batch and deliver it; returns the number of records delivered."""
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        refused = [message for message in received if not self.admit(message)]
        for message in refused:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        received = [message for message in received if message not in refused]
        if not received:
            return len(refused)
        event = {"Records": [lambda_record(message, self.queue_arn, self.region) for message in received]}
        try:
            response = self.invoke(self.function_name, event) or {}
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        except Exception:
            LOG.exception("data trigger invocation failed; the whole batch is retried")
            failed = {message["MessageId"] for message in received}
        for message in received:
            if message["MessageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self.retry_delay_seconds,
                )
            else:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(received)

    def start(self) -> SqsEventSource:
        self._thread = threading.Thread(target=self._run, daemon=True, name="sqs-event-source")
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.poll_once():
                    self._stop.wait(0.3)
            except Exception:
                LOG.exception("polling %s failed", self.queue_url)
                self._stop.wait(1)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
