"""The CodePipeline job contract of the Invoke actions (train_trigger, deploy_endpoint).

- The event is parsed into a ``JobEvent`` at the edge: job id, action data, UserParameters and the
  decoded continuation token (a small JSON object this function wrote, at most 2048 characters).
- ``CodePipelineJob`` reports the result exactly once: the first ``succeed``/``fail`` wins, later
  ones are ignored with a log line.
- ``run_job`` is the handlers' boundary: it parses the event, reads the settings, builds the
  services and calls the core, and turns every exception escaping them into one failure result.
  If the result call itself fails after the client's retries, ``ResultNotDelivered`` is raised so
  Lambda's asynchronous retry runs the (idempotent) handler again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from common import clients, failure_text, names, notify
from common.errors import ConfigurationError, describe_error, is_access_denied
from common.logs import Log

MAX_TOKEN_CHARS = 2048
FAILURE_MESSAGE_LIMIT = 5000  # PutJobFailureResult FailureDetails.message
_JOB_ID = re.compile(r"^[0-9a-fA-F-]{1,64}$")

Request = TypeVar("Request")
Settings = TypeVar("Settings")
Services = TypeVar("Services")
Made = TypeVar("Made", covariant=True)
Given = TypeVar("Given", contravariant=True)


class Parsed(Protocol[Made]):
    @classmethod
    def parse(cls, event: JobEvent) -> Made: ...


class FromEnvironment(Protocol[Made]):
    @classmethod
    def from_environment(cls) -> Made: ...


class Created(Protocol[Given, Made]):
    @classmethod
    def create(cls, settings: Given) -> Made: ...


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
        details = {"type": failure_type, "message": failure_text.cap(message, FAILURE_MESSAGE_LIMIT)}
        request = {"jobId": self.job_id, "failureDetails": details}
        self._report("failed", "put_job_failure_result", request, message)

    def _report(self, outcome: str, operation: str, request: dict[str, Any], text: str) -> None:
        if self.reported:
            self.log.warning("job result already reported; ignoring a second one", outcome=outcome)
            return
        self.reported = outcome
        try:
            getattr(clients.client("codepipeline"), operation)(**request)
        except Exception as error:
            self.log.error(
                "job result not delivered; the invocation will be retried", error=describe_error(error)
            )
            raise ResultNotDelivered(describe_error(error)) from error
        self.log.info(f"job {outcome}", result=failure_text.cap(text, 500))


def codepipeline_job_id(event: Any) -> str:
    """The job id of a CodePipeline job event, or "" when there is none to answer."""
    job = event.get("CodePipeline.job") if isinstance(event, Mapping) else None
    job_id = job.get("id") if isinstance(job, Mapping) else None
    return job_id if isinstance(job_id, str) and _JOB_ID.match(job_id) else ""


@dataclass(frozen=True)
class JobEvent:
    """A CodePipeline job event as the handlers use it."""

    job_id: str
    data: Mapping[str, Any]

    @classmethod
    def parse(cls, event: Mapping[str, Any], job_id: str) -> JobEvent:
        data = event["CodePipeline.job"].get("data")
        if not isinstance(data, Mapping):
            raise ConfigurationError("the CodePipeline job event has no data section")
        return cls(job_id, data)

    def user_parameters(self, allowed: Mapping[str, bool]) -> dict[str, str]:
        return user_parameters(self.data, allowed)

    def continuation(self) -> dict[str, Any] | None:
        return continuation_token(self.data)


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
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise ConfigurationError("the continuation token is not one this function wrote")
    try:
        decoded = json.loads(token)
    except ValueError:
        raise ConfigurationError("the continuation token is not one this function wrote") from None
    if not isinstance(decoded, dict):
        raise ConfigurationError("the continuation token is not one this function wrote")
    return decoded


def execution_id(value: str, field: str = "execution_id") -> str:
    """``value`` when it is a CodePipeline execution id, else a ConfigurationError naming the field."""
    try:
        names.resource_name("x", value)
    except ValueError:
        raise ConfigurationError(
            f"UserParameters field {field!r} ({value[:60]!r}) is not an execution id"
        ) from None
    return value


def encode_token(fields: Mapping[str, Any]) -> str:
    token = json.dumps(dict(fields), separators=(",", ":"), sort_keys=True)
    if len(token) > MAX_TOKEN_CHARS:
        raise ValueError(f"continuation token longer than {MAX_TOKEN_CHARS} characters")
    return token


def run_job(
    event: Any,
    handler_name: str,
    request: type[Parsed[Request]],
    settings: type[FromEnvironment[Settings]],
    services: type[Created[Settings, Services]],
    core: Callable[[Request, Settings, Services, CodePipelineJob], None],
) -> None:
    """``request.parse`` the event, ``settings.from_environment()``, ``services.create(settings)``, then
    the core: exactly one job result, whatever happens. An AccessDenied also emails the stack's owner
    naming the missing permission.
    """
    log = Log(handler_name)
    job_id = codepipeline_job_id(event)
    if not job_id:
        log.error("event is not a CodePipeline job (no valid CodePipeline.job.id); nothing to answer")
        return
    log.bind(job_id=job_id)
    job = CodePipelineJob(job_id, log)
    try:
        parsed = request.parse(JobEvent.parse(event, job_id))
        log.bind(run_id=getattr(parsed, "run_id", ""))
        loaded = settings.from_environment()
        core(parsed, loaded, services.create(loaded), job)
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
        try:
            notify.access_denied_to_owner(error, log)
        except Exception as side_error:  # noqa: BLE001 - a side effect never blocks the result
            log.error("error handling failed", error=describe_error(side_error))
        failure_type = "PermissionError" if is_access_denied(error) else "JobFailed"
        job.fail(describe_error(error), failure_type)
    if not job.reported:
        job.fail("internal error: the handler finished without a result")
