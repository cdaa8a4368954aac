"""Shared test helpers for the Lambda handlers: constants, event builders, call interceptors, HTTP capture."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from botocore.awsrequest import AWSResponse
from common import clients, sagemaker_resources

from tests.stack_fixture import (  # noqa: F401 - the Lambda tests import the stack from here
    ENDPOINT,
    ENVIRONMENT,
    IMAGE_URI,
    INPUT_BUCKET,
    MODEL_BUCKET,
    REGION,
    ROLE_ARN,
    STACK,
    TABLE,
)

EVENTS = Path(__file__).resolve().parent.parent / "events"
EXECUTION_ID = "2f1b7c3e-5a1d-4c6e-9f0a-1b2c3d4e5f60"
JOB_NAME = f"{STACK}-{EXECUTION_ID}"
SECRETS = (
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "FwoGZXIvYXdzEXAMPLESESSIONTOKENdoNotLogMe1234567890",
    "ASIAIOSFODNN7EXAMPLE",
)


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def pipeline_job(continuation: str | None = None, job_id: str = "", **user_parameters: str) -> dict[str, Any]:
    """The documented CodePipeline job event with our UserParameters (train action by default)."""
    event = load_event("codepipeline_job")
    data = event["CodePipeline.job"]["data"]
    parameters = json.loads(data["actionConfiguration"]["configuration"]["UserParameters"])
    parameters.update(user_parameters)
    data["actionConfiguration"]["configuration"]["UserParameters"] = json.dumps(parameters)
    if continuation is not None:
        data["continuationToken"] = continuation
    if job_id:
        event["CodePipeline.job"]["id"] = job_id
    return event


def deploy_job(continuation: str | None = None, job_id: str = "") -> dict[str, Any]:
    event = pipeline_job(continuation, job_id)
    configuration = event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]
    configuration["UserParameters"] = json.dumps({"execution_id": EXECUTION_ID})
    return event


class Intercept:
    """Record (and optionally answer) one operation of a client; botocore validation stays on.

    Parameters are captured at ``before-parameter-build`` and validated by botocore before
    ``before-call``, exactly as with ``botocore.stub.Stubber``; ``respond`` (params -> response
    dict, with an "Error" key for an error) short-circuits the call like Stubber does. Without
    ``respond``, or when it returns None, the call goes on to moto.
    """

    active: ClassVar[list[Intercept]] = []

    def __init__(
        self,
        client: Any,
        operation: str,
        respond: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    ):
        self.calls: list[dict[str, Any]] = []
        self.respond = respond
        service = client.meta.service_model.service_id.hyphenize()
        self._registrations = [
            (client.meta.events, f"before-parameter-build.{service}.{operation}", self._capture),
            (client.meta.events, f"before-call.{service}.{operation}", self._answer),
        ]
        for events, name, handler in self._registrations:
            events.register(name, handler)
        Intercept.active.append(self)

    @classmethod
    def remove_all(cls) -> None:
        """Detach every interceptor (the cached clients outlive a test)."""
        for intercept in cls.active:
            for events, name, handler in intercept._registrations:
                events.unregister(name, handler)
        cls.active.clear()

    def _capture(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(copy.deepcopy(params))

    def _answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        body = self.respond(self.calls[-1]) if self.respond else None
        if body is None:
            return None  # not answered here: the call goes on to moto
        status = body.pop("_status", 400 if "Error" in body else 200)
        body.setdefault("ResponseMetadata", {"HTTPStatusCode": status})
        return AWSResponse("https://intercepted", status, {}, None), body


def client_error(
    code: str, message: str = "", status: int = 400
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda _params: {"Error": {"Code": code, "Message": message or code}, "_status": status}


class PipelineResults:
    """Every PutJobSuccessResult / PutJobFailureResult the handlers send (moto lacks both)."""

    def __init__(self) -> None:
        codepipeline = clients.client("codepipeline")
        self.successes = Intercept(codepipeline, "PutJobSuccessResult", lambda _params: {})
        self.failures = Intercept(codepipeline, "PutJobFailureResult", lambda _params: {})

    @property
    def count(self) -> int:
        return len(self.successes.calls) + len(self.failures.calls)

    def only(self) -> tuple[str, dict[str, Any]]:
        """The single result sent (asserting there was exactly one)."""
        assert self.count == 1, (self.successes.calls, self.failures.calls)
        if self.successes.calls:
            return "success", self.successes.calls[0]
        return "failure", self.failures.calls[0]

    def clear(self) -> None:
        self.successes.calls.clear()
        self.failures.calls.clear()


class CapturingServer:
    """A 127.0.0.1 HTTP server recording every request (method, path, headers, body)."""

    def __init__(self, answer: Callable[[str, str, bytes], tuple[int, dict[str, str], bytes]] | None = None):
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, headers, payload = (answer or (lambda *_: (200, {}, b"")))(
                    self.command, self.path, body
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_PUT = do_POST = do_GET = _handle

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CapturingServer:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def create_release(sagemaker: Any, name: str, stack: str | None = STACK) -> None:
    """A model and an endpoint config named ``name``, tagged with ``stack`` (untagged when None)."""
    tags = [{"Key": sagemaker_resources.STACK_TAG, "Value": stack}] if stack else []
    sagemaker.create_model(
        ModelName=name, PrimaryContainer={"Image": IMAGE_URI}, ExecutionRoleArn=ROLE_ARN, Tags=tags
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        Tags=tags,
    )
