"""Shared helpers for every handler: clients, JSON logging, names, errors, CodePipeline job results.

Design decisions (see docs/contracts.md for the names):
- Clients are built lazily, once per execution environment, with botocore standard retries
  (throttling and 5xx are retried three times with backoff before an error reaches a handler).
  Only ``boto3.client(service, config=...)`` is used, so ``AWS_ENDPOINT_URL_<SERVICE>`` (local
  mode) is honoured; ``reset_clients()`` drops the cache (tests, local mode after changing
  endpoints).
- Logs are one JSON object per line with the bound context (run id, job id). Field values pass
  through ``redact`` so a mapping holding ``artifactCredentials`` or a key that looks like a
  secret is never printed; handlers log ids, never raw events.
- ``CodePipelineJob`` reports the result of a CodePipeline job exactly once: the first
  ``succeed``/``fail`` call wins, later ones are ignored with a log line, and
  ``run_codepipeline_job`` turns any exception escaping the core into a failure result.
  If the result call itself fails after the client's retries, the error is re-raised so Lambda's
  asynchronous retry runs the (idempotent) handler again.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

STACK_TAG = "sagemaker-pipeline:stack"
RUN_ID_TAG = "sagemaker-pipeline:run-id"
TERMINAL_TRAINING_STATUSES = ("Completed", "Failed", "Stopped")
NOT_FOUND_CODES = ("ValidationException", "ResourceNotFound", "ResourceNotFoundException")
ACCESS_DENIED_CODES = (
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
)
CAPACITY_CODES = (
    "ResourceLimitExceeded",
    "InsufficientCapacity",
    "InsufficientCapacityError",
    "CapacityError",
)
TRANSIENT_CODES = (
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestThrottledException",
    "SlowDown",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
    "InternalError",
)

_RESOURCE_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
INSTANCE_TYPE_PATTERN = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
_EXECUTION_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,35}$")
_SECRET_KEY_PATTERN = re.compile(r"(credential|secret|token|password|authorization)", re.IGNORECASE)
_MISSING_PERMISSION_PATTERN = re.compile(r"perform:\s*([A-Za-z0-9-]+:[A-Za-z0-9]+)")

_clients: dict[str, Any] = {}


# ----------------------------------------------------------------------------------------- clients
def client(service: str) -> Any:
    """The cached boto3 client for ``service`` (standard retry mode)."""
    if service not in _clients:
        _clients[service] = boto3.client(service, config=Config(retries={"mode": "standard"}))
    return _clients[service]


class LazyClient:
    """Stands for ``client(service)`` and builds it on first use: botocore spends 30-90 ms per
    client reading its service model, so a cold start pays only for the services its path calls."""

    __slots__ = ("_service",)

    def __init__(self, service: str) -> None:
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(client(self._service), name)


def reset_clients() -> None:
    """Forget every cached client (tests and local mode rebuild them with new endpoints)."""
    _clients.clear()


# ----------------------------------------------------------------------------------------- logging
_logger = logging.getLogger("sagemaker_pipeline")


def _ensure_log_output() -> None:
    if _logger.level == logging.NOTSET:
        _logger.setLevel(logging.INFO)
        if not logging.getLogger().handlers:
            # Outside Lambda (local mode) the root logger has no handler: write lines to stderr.
            stream = logging.StreamHandler(sys.stderr)
            stream.setFormatter(logging.Formatter("%(message)s"))
            _logger.addHandler(stream)
            _logger.propagate = False


def redact(value: Any) -> Any:
    """A copy of ``value`` with secret-looking mapping entries replaced by ``"***"``."""
    if isinstance(value, Mapping):
        return {
            str(key): "***" if _SECRET_KEY_PATTERN.search(str(key)) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


@dataclass
class Log:
    """A JSON-lines logger carrying context fields (run id, job id) on every line."""

    handler: str
    context: dict[str, Any] = field(default_factory=dict)

    def bind(self, **fields: Any) -> None:
        self.context.update({key: value for key, value in fields.items() if value})

    def _emit(self, level: int, message: str, fields: dict[str, Any]) -> None:
        _ensure_log_output()
        record = {"level": logging.getLevelName(level), "handler": self.handler, "message": message}
        record.update(self.context)
        record.update(fields)
        _logger.log(level, json.dumps(redact(record), default=str, sort_keys=False))

    def info(self, message: str, **fields: Any) -> None:
        self._emit(logging.INFO, message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._emit(logging.WARNING, message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._emit(logging.ERROR, message, fields)


# ------------------------------------------------------------------------------------------- names
def resource_name(stack_name: str, execution_id: str, attempt: int = 1) -> str:
    """Training job / model / endpoint config name for a pipeline execution (docs/contracts.md).

    Attempt 1 is the plain name; attempt N > 1 replaces the tail of the id with ``-rN``.
    """
    if not _EXECUTION_ID_PATTERN.match(execution_id or ""):
        raise ValueError(f"execution id {execution_id!r} is not a CodePipeline execution id")
    name = f"{re.sub(r'[^a-zA-Z0-9]', '-', stack_name)[:26]}-{execution_id}"
    if attempt > 1:
        suffix = f"-r{attempt}"
        name = name[: 63 - len(suffix)].rstrip("-") + suffix
    if not _RESOURCE_NAME_PATTERN.match(name):
        raise ValueError(f"stack name {stack_name!r} does not give a valid SageMaker resource name")
    return name


def resource_prefix(stack_name: str) -> str:
    """The leading part every ``resource_name`` of this stack shares (for NameContains filters)."""
    return f"{re.sub(r'[^a-zA-Z0-9]', '-', stack_name)[:26]}-"


def stack_tags(stack_name: str, run_id: str) -> list[dict[str, str]]:
    return [{"Key": STACK_TAG, "Value": stack_name}, {"Key": RUN_ID_TAG, "Value": run_id}]


# ------------------------------------------------------------------------------------ environment
class ConfigurationError(ValueError):
    """Bad configuration or input: the message says what to change."""


def env_text(name: str, *, required: bool = True) -> str:
    value = os.environ.get(name, "").strip()
    if required and not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def env_int(name: str, *, minimum: int, maximum: int, default: int | None = None) -> int:
    text = os.environ.get(name, "").strip()
    if not text and default is not None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigurationError(f"environment variable {name}={text!r} is not an integer") from None
    if not minimum <= value <= maximum:
        raise ConfigurationError(f"environment variable {name}={value} is outside {minimum}..{maximum}")
    return value


def env_bool(name: str) -> bool:
    text = os.environ.get(name, "false").strip().lower()
    if text not in ("true", "false"):
        raise ConfigurationError(f"environment variable {name}={text!r} must be true or false")
    return text == "true"


# ------------------------------------------------------------------------------------------ errors
def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def is_not_found(error: BaseException) -> bool:
    """Describe* of a name we validated up front: SageMaker answers ValidationException."""
    return error_code(error) in NOT_FOUND_CODES


def missing_permission(error: ClientError) -> str:
    """The IAM action an AccessDenied error names, else the API operation that was refused."""
    message = str(error.response.get("Error", {}).get("Message", ""))
    found = _MISSING_PERMISSION_PATTERN.search(message)
    return found.group(1) if found else error.operation_name


def describe_error(error: BaseException) -> str:
    """One line for a user: what failed and what to do."""
    if isinstance(error, ClientError):
        code = error_code(error)
        message = error.response.get("Error", {}).get("Message", "")
        if code in ACCESS_DENIED_CODES:
            return (
                f"Permission missing: {missing_permission(error)} was denied ({code} in "
                f"{error.operation_name}). Add it to the function's role in the stack template."
            )
        if (
            code in TRANSIENT_CODES
            or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
        ):
            return (
                f"AWS kept failing {error.operation_name} ({code}) after retries: {message}. "
                "Retry the stage when the service recovers."
            )
        return f"{error.operation_name} failed ({code}): {message}"
    if isinstance(error, BotoCoreError):
        return f"AWS call failed: {error}"
    return f"{type(error).__name__}: {error}"


def is_access_denied(error: BaseException) -> bool:
    return error_code(error) in ACCESS_DENIED_CODES


def is_capacity_error(error: BaseException) -> bool:
    return error_code(error) in CAPACITY_CODES


def publish(topic_arn: str, subject: str, body: str, log: Log) -> bool:
    """Send an email through the notification topic; False (logged) when it cannot be sent."""
    if not topic_arn:
        log.warning("no notification topic configured; email not sent", subject=subject)
        return False
    subject = " ".join(subject.split()).encode("ascii", "replace").decode("ascii")
    if len(subject) > 100:
        subject = subject[:97] + "..."
    try:
        client("sns").publish(TopicArn=topic_arn, Subject=subject, Message=body[:200_000])
    except (ClientError, BotoCoreError) as error:
        log.error("notification email not sent", error=describe_error(error))
        return False
    log.info("notification email sent", subject=subject)
    return True


def notify_access_denied(topic_arn: str, stack_name: str, error: BaseException, log: Log) -> None:
    """AccessDenied means the template's role is wrong: tell a person, naming the action."""
    if isinstance(error, ClientError) and is_access_denied(error):
        action = missing_permission(error)
        body = (
            f"A pipeline function of stack {stack_name} was refused an AWS action.\n\n"
            f"Missing permission: {action}\n"
            f"Operation: {error.operation_name}\n"
            f"Error: {error.response.get('Error', {}).get('Message', '')}\n\n"
            "Grant this action to the function's role in the stack template (or the role that was "
            "passed in), update the stack, then retry the failed pipeline stage."
        )
        publish(topic_arn, f"[{stack_name}] Permission missing: {action}", body, log)


def notify_owner_of_access_denied(error: BaseException, log: Log) -> None:
    """``run_codepipeline_job``'s on_error for the pipeline handlers: the email goes to the stack's topic."""
    stack_name = env_text("STACK_NAME", required=False) or "sagemaker-pipeline"
    notify_access_denied(env_text("NOTIFICATION_TOPIC_ARN", required=False), stack_name, error, log)


# --------------------------------------------------------------------------------------- run item
def to_dynamo(value: Any) -> Any:
    """Python values as the DynamoDB resource API accepts them (floats as Decimal)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, Mapping):
        return {str(key): to_dynamo(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(item) for item in value]
    return value


def now_iso(clock: Callable[[], float] = time.time) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock()))


def update_item(
    table: Any, run_id: str, attributes: Mapping[str, Any], condition: str = "", **values: Any
) -> Any:
    """UpdateItem SET of ``attributes`` with an optional condition; returns the new item."""
    names = {f"#a{index}": key for index, key in enumerate(attributes)}
    expression_values = {f":a{index}": to_dynamo(value) for index, value in enumerate(attributes.values())}
    expression_values.update({f":{key}": to_dynamo(value) for key, value in values.items()})
    names.update({f"#{key}": key for key in ("status", "training_job_name") if f"#{key}" in condition})
    request: dict[str, Any] = {
        "Key": {"run_id": run_id},
        "UpdateExpression": "SET " + ", ".join(f"#a{index} = :a{index}" for index in range(len(attributes))),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": expression_values,
        "ReturnValues": "ALL_NEW",
    }
    if condition:
        request["ConditionExpression"] = condition
    return table.update_item(**request).get("Attributes", {})


def table(name: str) -> Any:
    """The cached DynamoDB Table (the resource API is used only for its type mapping)."""
    key = f"dynamodb-table:{name}"
    if key not in _clients:
        resource = boto3.resource("dynamodb", config=Config(retries={"mode": "standard"}))
        _clients[key] = resource.Table(name)
    return _clients[key]


# ------------------------------------------------------------------------------ CodePipeline jobs


class ResultNotDelivered(Exception):
    """CodePipeline did not take the job result (after retries): Lambda must retry the invocation."""


class JobFailure(Exception):
    """Raised by a core function to fail the CodePipeline job with a clear message."""

    def __init__(self, message: str, failure_type: str = "JobFailed") -> None:
        super().__init__(message)
        self.failure_type = failure_type


@dataclass
class CodePipelineJob:
    """A CodePipeline job whose result is reported exactly once."""

    job_id: str
    log: Log
    reported: str = ""

    def succeed(
        self, summary: str, continuation_token: str = "", variables: Mapping[str, str] | None = None
    ) -> None:
        request: dict[str, Any] = {"jobId": self.job_id, "executionDetails": {"summary": summary[:2048]}}
        if continuation_token:
            request["continuationToken"] = continuation_token
        elif variables:
            request["outputVariables"] = dict(variables)
        self._report(
            "continued" if continuation_token else "succeeded", "put_job_success_result", request, summary
        )

    def fail(self, message: str, failure_type: str = "JobFailed") -> None:
        request = {"jobId": self.job_id, "failureDetails": {"type": failure_type, "message": message[:5000]}}
        self._report("failed", "put_job_failure_result", request, message)

    def _report(self, outcome: str, operation: str, request: dict[str, Any], text: str) -> None:
        if self.reported:
            self.log.warning("job result already reported; ignoring a second one", outcome=outcome)
            return
        self.reported = outcome
        try:
            getattr(client("codepipeline"), operation)(**request)
        except Exception as error:
            self.log.error(
                "job result not delivered; the invocation will be retried", error=describe_error(error)
            )
            raise ResultNotDelivered(describe_error(error)) from error
        self.log.info(f"job {outcome}", result=text[:500])


_CODEPIPELINE_JOB_ID = re.compile(r"^[0-9a-fA-F-]{1,64}$")


def codepipeline_job_id(event: Any) -> str:
    """The job id of a CodePipeline job event, or "" when there is none to answer."""
    job = event.get("CodePipeline.job") if isinstance(event, Mapping) else None
    job_id = job.get("id") if isinstance(job, Mapping) else None
    return job_id if isinstance(job_id, str) and _CODEPIPELINE_JOB_ID.match(job_id) else ""


def job_data(event: Mapping[str, Any]) -> Mapping[str, Any]:
    data = event["CodePipeline.job"].get("data")
    if not isinstance(data, Mapping):
        raise ConfigurationError("the CodePipeline job event has no data section")
    return data


def user_parameters(data: Mapping[str, Any], allowed: Mapping[str, bool]) -> dict[str, str]:
    """Strictly parsed UserParameters: a JSON object of strings; ``allowed`` maps name -> required."""
    configuration = data.get("actionConfiguration", {})
    configuration = configuration.get("configuration", {}) if isinstance(configuration, Mapping) else {}
    text = configuration.get("UserParameters") if isinstance(configuration, Mapping) else None
    if not isinstance(text, str) or not text.strip():
        raise ConfigurationError("UserParameters is missing from the action configuration")
    try:
        parsed = json.loads(text)
    except ValueError as error:
        raise ConfigurationError(f"UserParameters is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise ConfigurationError("UserParameters must be a JSON object")
    unknown = sorted(set(parsed) - set(allowed))
    if unknown:
        raise ConfigurationError(f"UserParameters field {unknown[0]!r} is not expected")
    result: dict[str, str] = {}
    for name, required in allowed.items():
        value = parsed.get(name, "")
        if not isinstance(value, str):
            raise ConfigurationError(f"UserParameters field {name!r} must be a string")
        if "#{" in value:
            raise ConfigurationError(f"UserParameters field {name!r} holds an unresolved variable {value!r}")
        if required and not value.strip():
            raise ConfigurationError(f"UserParameters field {name!r} is required")
        result[name] = value.strip()
    return result


def continuation_token(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The decoded continuation token (a small JSON object we wrote), None on a first call."""
    token = data.get("continuationToken")
    if token is None or token == "":
        return None
    if not isinstance(token, str) or len(token) > 2048:
        raise ConfigurationError("the continuation token is not one this function wrote")
    try:
        decoded = json.loads(token)
    except ValueError:
        raise ConfigurationError("the continuation token is not one this function wrote") from None
    if not isinstance(decoded, dict):
        raise ConfigurationError("the continuation token is not one this function wrote")
    return decoded


def encode_token(fields: Mapping[str, Any]) -> str:
    token = json.dumps(dict(fields), separators=(",", ":"), sort_keys=True)
    if len(token) > 2048:
        raise ValueError("continuation token longer than 2048 characters")
    return token


def run_codepipeline_job(
    event: Any,
    handler_name: str,
    core: Callable[[Mapping[str, Any], CodePipelineJob], None],
    on_error: Callable[[BaseException, Log], None] | None = None,
) -> None:
    """Run ``core`` for a CodePipeline job event and make sure exactly one result is reported."""
    log = Log(handler_name)
    job_id = codepipeline_job_id(event)
    if not job_id:
        log.error("event is not a CodePipeline job (no valid CodePipeline.job.id); nothing to answer")
        return
    log.bind(job_id=job_id)
    job = CodePipelineJob(job_id, log)
    try:
        core(event, job)
    except ResultNotDelivered:
        raise
    except JobFailure as failure:
        log.error("job failed", reason=str(failure))
        job.fail(str(failure), failure.failure_type)
    except ConfigurationError as error:
        log.error("bad configuration", reason=str(error))
        job.fail(str(error), "ConfigurationError")
    except Exception as error:  # noqa: BLE001 - the boundary: every error becomes a job result
        log.error("job failed on an unexpected error", error=describe_error(error))
        if on_error:
            try:
                on_error(error, log)
            except Exception as side_error:  # noqa: BLE001 - a side effect never blocks the result
                log.error("error handling failed", error=describe_error(side_error))
        failure_type = "PermissionError" if is_access_denied(error) else "JobFailed"
        job.fail(describe_error(error), failure_type)
    if not job.reported:
        job.fail("internal error: the handler finished without a result")
