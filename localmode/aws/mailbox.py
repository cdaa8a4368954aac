"""The notification emails, read back: moto sends no mail."""

from __future__ import annotations

import json
from typing import Any


class Mailbox:
    """A local stand-in for the notification inbox: an SQS queue subscribed to the topic next to the
    email subscription, so every message SNS would have emailed can be read back (moto sends no mail)."""

    def __init__(self, sns: Any, sqs: Any, topic_arn: str, name: str) -> None:
        self.sqs = sqs
        self.queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn["QueueArn"])
        self.messages: list[dict[str, str]] = []

    def read(self) -> list[dict[str, str]]:
        """Every notification so far, oldest first (received once, kept here)."""
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return sorted(self.messages, key=lambda item: item["timestamp"])
            for message in batch:
                notification = json.loads(message["Body"])
                self.messages.append(
                    {
                        "subject": notification.get("Subject") or "",
                        "message": notification.get("Message", ""),
                        "timestamp": notification.get("Timestamp", ""),
                    }
                )
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
