"""The local SageMaker emulator's HTTP face: SageMaker (awsJson1_1), SageMaker Runtime (restJson),
the Price List's GetProducts (from a sample, localmode/aws/pricing.py), the CodePipeline job calls
(awsJson1_1, anything else forwarded to moto), and a recording relay for
CloudFormation custom-resource responses."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3

from localmode.aws.awsmodel import ApiError, check_output, error_body, operation, to_wire_json, validate_input
from localmode.aws.codepipeline_jobs import CodePipelineJobs
from localmode.aws.pricing import LocalPriceList
from localmode.aws.sagemaker.backend import SageMakerBackend
from localmode.aws.sagemaker.events import EventSink
from localmode.aws.sagemaker.runtimes import ImageCatalog

LOG = logging.getLogger(__name__)
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
SERVICES_BY_TARGET_PREFIX = {
    "SageMaker": "sagemaker",
    "CodePipeline_20150709": "codepipeline",
    "AWSPriceListService": "pricing",
}


@dataclass
class CustomResourceResponse:
    stack_id: str
    logical_resource_id: str
    request_id: str
    status: str
    reason: str
    data: dict[str, Any]


_MOTO_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def _registered(moto_url: str, region: str, resource_id: str) -> bool:
    """Whether Application Auto Scaling (moto's) has the SageMaker variant as a scalable target: what
    SageMaker asks before an UpdateEndpoint that changes the variant's instance type."""
    client = boto3.client(
        "application-autoscaling",
        endpoint_url=moto_url,
        region_name=region,
        **_MOTO_CREDENTIALS,  # moto's registry, read as SageMaker itself (no gate)
    )
    found = client.describe_scalable_targets(
        ServiceNamespace="sagemaker",
        ResourceIds=[resource_id],
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
    )
    return bool(found.get("ScalableTargets"))


class Emulator:
    """Owns the SageMaker backend, the CodePipeline job recorder and the HTTP server in front of them."""

    def __init__(
        self,
        *,
        moto_url: str,
        workdir: Path,
        region: str,
        account_id: str,
        s3_factory: Callable[[str], Any],  # the role SageMaker acts with
        on_event: EventSink,
        images: ImageCatalog | None = None,
        serve_timeout_seconds: float = 60.0,
        logs_factory: Callable[[str], Any] | None = None,  # default: moto's CloudWatch Logs
        metrics_factory: Callable[[], Any] | None = None,  # default: moto's CloudWatch
    ) -> None:
        self.moto_url = moto_url
        self.images = images or ImageCatalog()
        self.sagemaker = SageMakerBackend(
            region=region,
            account_id=account_id,
            workdir=workdir,
            images=self.images,
            s3_factory=s3_factory,
            on_event=on_event,
            serve_timeout_seconds=serve_timeout_seconds,
            logs_factory=logs_factory
            or (lambda _role="": boto3.client("logs", endpoint_url=moto_url, region_name=region)),
            metrics_factory=metrics_factory
            or (lambda: boto3.client("cloudwatch", endpoint_url=moto_url, region_name=region)),
            is_scalable_target=lambda resource_id: _registered(moto_url, region, resource_id),
        )
        self.codepipeline = CodePipelineJobs()
        self.price_list = LocalPriceList()
        self.custom_resource_responses: list[CustomResourceResponse] = []
        self.calls: list[tuple[str, str]] = []
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Emulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.sagemaker.shutdown()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- dispatch --------------------------------------------------------------------------------

    def call_json(self, target: str, body: bytes) -> tuple[int, bytes]:
        prefix, _, name = target.partition(".")
        service = SERVICES_BY_TARGET_PREFIX[prefix]
        params = json.loads(body or b"{}")
        self.calls.append((service, name))
        op = operation(service, name)
        if service == "sagemaker" and not hasattr(self.sagemaker, SageMakerBackend.method_name(name)):
            raise ApiError(
                "UnknownOperationException", f"The local SageMaker emulator does not implement {name}"
            )
        validate_input(op, params)
        if service == "sagemaker":
            result = self.sagemaker.handle(name, params)
        elif service == "pricing":
            result = self.price_list.handle(name, params)
        else:
            result = self.codepipeline.handle(name, params)
        check_output(op, result)
        return 200, to_wire_json(result)

    def record_custom_resource_response(self, body: bytes) -> None:
        answer = json.loads(body)
        self.custom_resource_responses.append(
            CustomResourceResponse(
                stack_id=answer.get("StackId", ""),
                logical_resource_id=answer.get("LogicalResourceId", ""),
                request_id=answer.get("RequestId", ""),
                status=answer.get("Status", ""),
                reason=answer.get("Reason", ""),
                data=answer.get("Data") or {},
            )
        )


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        LOG.debug("emulator: connection from %s ended abruptly", client_address, exc_info=True)


def _handler_for(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            LOG.debug("emulator: " + format, *args)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amzn-RequestId", "00000000-0000-4000-8000-000000000000")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self._body()
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith("/endpoints/") and path.endswith("/invocations"):
                self._invoke(urllib.parse.unquote(path[len("/endpoints/") : -len("/invocations")]), body)
                return
            target = self.headers.get("X-Amz-Target", "")
            prefix, _, name = target.partition(".")
            if prefix == "CodePipeline_20150709" and not emulator.codepipeline.handles(name):
                self._forward_to_moto("POST", body)
                return
            if prefix not in SERVICES_BY_TARGET_PREFIX:
                self._send(
                    400, error_body(ApiError("UnknownOperationException", f"unknown target {target!r}")), {}
                )
                return
            try:
                status, payload = emulator.call_json(target, body)
            except ApiError as error:
                status, payload = error.status, error_body(error)
            except Exception as error:
                LOG.exception("emulator failed on %s", target)
                status, payload = 500, error_body(ApiError("InternalFailure", str(error), 500))
            self._send(status, payload, {"Content-Type": JSON_CONTENT_TYPE})

        def do_GET(self) -> None:
            prefix = "/_localmode/custom-resource-responses/"
            request_id = self.path[len(prefix) :] if self.path.startswith(prefix) else ""
            answer = next((r for r in emulator.custom_resource_responses if r.request_id == request_id), None)
            if answer is None:
                self._send(404, b"{}", {"Content-Type": "application/json"})
                return
            self._send(
                200, json.dumps(dataclasses.asdict(answer)).encode(), {"Content-Type": "application/json"}
            )

        def do_PUT(self) -> None:
            body = self._body()
            if "/cfnresponse" not in self.path:
                self._send(404, b"", {})
                return
            emulator.record_custom_resource_response(body)
            # moto reads the region of a custom-resource answer from the User-Agent (the URL's host
            # is 127.0.0.1), and defaults to us-east-1 without it.
            region = self.path.split("/cloudformation_", 1)[1].split("/", 1)[0]
            self._forward_to_moto(
                "PUT", body, {"Content-Type": "", "User-Agent": f"localmode region/{region}"}
            )

        def _invoke(self, endpoint_name: str, body: bytes) -> None:
            forwarded = {
                name: self.headers[name]
                for name in ("Content-Type", "Accept")
                if self.headers.get(name) is not None
            }
            emulator.calls.append(("sagemaker-runtime", "InvokeEndpoint"))
            try:
                status, headers, payload = emulator.sagemaker.invoke_endpoint(endpoint_name, body, forwarded)
            except ApiError as error:
                self._runtime_error(error)
                return
            except OSError as error:
                self._runtime_error(
                    ApiError("ModelError", f"Received server error from the model: {error}", 424)
                )
                return
            if status >= 400:
                message = payload.decode("utf-8", "replace")
                self._runtime_error(
                    ApiError(
                        "ModelError",
                        f'Received client error ({status}) from primary with message "{message}"',
                        424,
                    ),
                    {"OriginalStatusCode": status, "OriginalMessage": message},
                )
                return
            content_type = next(
                (v for k, v in headers.items() if k.lower() == "content-type"), "application/octet-stream"
            )
            self._send(
                200,
                payload,
                {"Content-Type": content_type, "x-Amzn-Invoked-Production-Variant": "AllTraffic"},
            )

        def _runtime_error(self, error: ApiError, extra: dict[str, Any] | None = None) -> None:
            body = json.dumps({"message": error.message, **(extra or {})}).encode()
            status = 424 if error.code == "ModelError" else error.status
            self._send(status, body, {"Content-Type": "application/json", "x-amzn-ErrorType": error.code})

        def _forward_to_moto(self, method: str, body: bytes, overrides: dict[str, str] | None = None) -> None:
            headers = {
                name: value
                for name, value in self.headers.items()
                if name.lower() not in ("host", "content-length", "connection")
            }
            headers.update(overrides or {})
            request = urllib.request.Request(  # noqa: S310 - the URL is moto's, on 127.0.0.1
                emulator.moto_url + self.path, data=body, method=method, headers=headers
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1 moto
                    status, payload, reply_headers = response.status, response.read(), dict(response.headers)
            except urllib.error.HTTPError as error:
                status, payload, reply_headers = error.code, error.read(), dict(error.headers)
            keep = {
                k: v for k, v in reply_headers.items() if k.lower() in ("content-type", "x-amzn-errortype")
            }
            self._send(status, payload, keep)

    return Handler
