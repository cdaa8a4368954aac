"""The resource's own policy for a request, read from the local services as AWS reads it: a KMS key's
key policy, a queue's or a topic's policy, a function's permissions. Resources without one (or that do
not exist) give None, and the engine decides on the caller's policies alone. Bucket policies are not
in the local world (localmode/pipeline/deployer.py says why)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from localmode.aws.iam.gate import policy_document
from localmode.aws.iam.requests import AuthRequest

SERVICES = ("kms", "sqs", "sns", "lambda")
STATEMENT_ELEMENTS = {
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
}


def _document(text: str | None) -> dict[str, Any] | None:
    return policy_document(text) if text else None


class ResourcePolicies:
    """``client(service)`` makes the clients once, here: made later, in a handler's thread, they would
    carry the gate's hook and have their own reads authorised as the handler."""

    def __init__(self, client: Callable[[str], Any]) -> None:
        self._clients = {service: client(service) for service in SERVICES}

    def _client(self, service: str) -> Any:
        return self._clients[service]

    def __call__(self, request: AuthRequest) -> dict[str, Any] | None:
        prefix = request.action.partition(":")[0]
        reader = {
            "kms": self._key,
            "sqs": self._queue,
            "sns": self._topic,
            "lambda": self._function,
        }.get(prefix)
        if reader is None or request.resource == "*":
            return None
        try:
            return reader(request.resource)
        except ClientError:  # absent resource or no policy: nothing but the caller's policies decide
            return None

    def _key(self, resource: str) -> dict[str, Any] | None:
        if ":key/" not in resource:
            return None
        policy = self._client("kms").get_key_policy(KeyId=resource.rsplit("/", 1)[-1], PolicyName="default")
        return _document(policy["Policy"])

    def _queue(self, resource: str) -> dict[str, Any] | None:
        sqs = self._client("sqs")
        url = sqs.get_queue_url(QueueName=resource.rsplit(":", 1)[1])["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]
        return _document(attributes.get("Policy"))

    def _topic(self, resource: str) -> dict[str, Any] | None:
        attributes = self._client("sns").get_topic_attributes(TopicArn=resource)["Attributes"]
        return _document(attributes.get("Policy"))

    def _function(self, resource: str) -> dict[str, Any] | None:
        """GetPolicy's document; moto adds the AddPermission request's FunctionName to each statement,
        which AWS does not return and no policy grammar allows: it is dropped."""
        name = resource.split(":function:", 1)[1].split(":", 1)[0]
        document = _document(self._client("lambda").get_policy(FunctionName=name)["Policy"])
        if document is None:
            return None
        statements = [
            {key: value for key, value in statement.items() if key in STATEMENT_ELEMENTS}
            for statement in document.get("Statement", [])
        ]
        return {**document, "Statement": statements}
