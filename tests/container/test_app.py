"""The built-in server's ASGI app, driven in-process (status codes, messages, user functions)."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import numpy as np
import pytest
from smp_runtime.serving.app import InvocationsApp, Model


class Response:
    def __init__(self, status: int, headers: dict[bytes, bytes], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode()


def call(
    app: InvocationsApp,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    chunks: list[bytes] | None = None,
) -> Response:
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    messages = [{"type": "http.request", "body": c, "more_body": True} for c in (chunks or [])]
    messages.append({"type": "http.request", "body": body, "more_body": False})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": raw_headers}
    asyncio.run(app(scope, receive, send))
    start, content = sent
    assert start["type"] == "http.response.start"
    response_headers = dict(start["headers"])
    assert response_headers[b"content-length"] == str(len(content["body"])).encode()
    return Response(start["status"], response_headers, content["body"])


class ThresholdModel:
    """Predicts 1 where the first feature is above 5; fails on purpose for a first feature of -1."""

    def predict(self, rows: np.ndarray) -> np.ndarray:
        if rows.shape[1] != 2:
            raise ValueError(f"X has {rows.shape[1]} features, but the model is expecting 2")
        if (rows[:, 0] == -1).any():
            raise ZeroDivisionError("model blew up")
        return (rows[:, 0] > 5).astype(int)


def predict(data: Any, model: ThresholdModel) -> Any:
    return model.predict(data)


@pytest.fixture
def app() -> InvocationsApp:
    return InvocationsApp(Model(ThresholdModel(), predict), max_body_bytes=1000)


CSV = {"Content-Type": "text/csv"}


def test_ping_is_200_once_a_model_is_loaded(app: InvocationsApp) -> None:
    assert call(app, "GET", "/ping").status == 200
    not_loaded = InvocationsApp(None, 1000)
    assert call(not_loaded, "GET", "/ping").status == 503
    assert call(not_loaded, "POST", "/invocations", b"1,2", CSV).status == 503


def test_csv_in_csv_out(app: InvocationsApp) -> None:
    response = call(app, "POST", "/invocations", b"6,0\n1,0", CSV)
    assert (response.status, response.text) == (200, "1\n0\n")
    assert response.headers[b"content-type"] == b"text/csv"


def test_accept_picks_the_response_type(app: InvocationsApp) -> None:
    response = call(
        app, "POST", "/invocations", b"[[6, 0]]", {"Content-Type": "application/json", "Accept": "text/csv"}
    )
    assert (response.status, response.text) == (200, "1\n")
    response = call(app, "POST", "/invocations", b"6,0", {**CSV, "Accept": "application/x-npy"})
    assert np.load(io.BytesIO(response.body)).tolist() == [1]


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"6,x", CSV, 400, "bad payload: CSV must hold numbers only"),
        (b"[[6,", {"Content-Type": "application/json"}, 400, "not valid JSON"),
        (b"", CSV, 400, "empty request body"),
        (b"6,0", {"Content-Type": "text/plain"}, 415, "unsupported Content-Type 'text/plain'"),
        (b"6,0", {}, 415, "unsupported Content-Type ''"),
        (b"6,0", {**CSV, "Accept": "text/html"}, 406, "cannot answer in Accept 'text/html'"),
        (b"6,0,1", CSV, 400, "the model rejected the input: X has 3 features"),
        (b"x" * 1001, CSV, 413, "larger than 1000 bytes"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message(
    app: InvocationsApp, body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    response = call(app, "POST", "/invocations", body, {**headers, "Content-Length": str(len(body))})
    assert response.status == status
    assert message in response.text


def test_oversize_streamed_body_is_413_without_content_length(app: InvocationsApp) -> None:
    response = call(app, "POST", "/invocations", b"x" * 10, CSV, chunks=[b"x" * 600, b"x" * 600])
    assert response.status == 413


def test_chunked_body_within_the_limit_is_joined(app: InvocationsApp) -> None:
    response = call(app, "POST", "/invocations", b"0\n", CSV, chunks=[b"6,", b"0\n1,"])
    assert (response.status, response.text) == (200, "1\n0\n")


def test_model_errors_are_500_with_a_logged_trace(
    app: InvocationsApp, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="smp_runtime.serving"):
        response = call(app, "POST", "/invocations", b"-1,0", CSV)
    assert response.status == 500
    assert response.text == "model error: ZeroDivisionError: model blew up\n"
    assert [r.exc_info[0] for r in caplog.records] == [ZeroDivisionError]


def test_wrong_paths_and_methods(app: InvocationsApp) -> None:
    assert call(app, "GET", "/invocations").status == 405
    assert call(app, "POST", "/ping").status == 405
    assert call(app, "GET", "/models").status == 404


def test_user_input_and_output_functions_replace_the_codecs() -> None:
    def input_fn(body: bytes, content_type: str) -> np.ndarray:
        if content_type != "text/plain":
            raise ValueError(f"only text/plain, not {content_type}")
        return np.array([[float(v), 0.0] for v in body.split()])

    def output_fn(prediction: np.ndarray, accept: str) -> tuple[str, str]:
        return " ".join("yes" if p else "no" for p in prediction), "text/plain"

    app = InvocationsApp(Model(ThresholdModel(), predict, input_fn, output_fn), 1000)
    response = call(app, "POST", "/invocations", b"6 1", {"Content-Type": "text/plain"})
    assert (response.status, response.text, response.headers[b"content-type"]) == (
        200,
        "yes no",
        b"text/plain",
    )
    rejected = call(app, "POST", "/invocations", b"6,1", CSV)
    assert (rejected.status, rejected.text) == (400, "bad payload: only text/plain, not text/csv\n")


def test_failures_outside_the_model_are_500_too(caplog: pytest.LogCaptureFixture) -> None:
    def input_fn(body: bytes, content_type: str) -> Any:
        raise KeyError("lookup table missing")

    broken_input = InvocationsApp(Model(ThresholdModel(), predict, input_fn=input_fn), 1000)
    response = call(broken_input, "POST", "/invocations", b"6,0", CSV)
    assert (response.status, response.text) == (500, "input error: KeyError: 'lookup table missing'\n")

    unencodable = InvocationsApp(Model(ThresholdModel(), lambda data, model: object()), 1000)
    with caplog.at_level(logging.ERROR, logger="smp_runtime.serving"):
        response = call(unencodable, "POST", "/invocations", b"6,0", {**CSV, "Accept": "application/json"})
    assert response.status == 500
    assert response.text.startswith("output error: TypeError: Object of type object is not JSON serializable")
