"""Micro-batching in the built-in server, driven in-process: concurrent requests share predict calls.

Deterministic: requests started together in one event-loop pass are queued before the batcher
dispatches, and a gate (threading.Event) holds a predict call while later requests queue up;
nothing here depends on timing.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from typing import Any

import numpy as np
import pytest
from smp_runtime.serving.app import InvocationsApp, Model
from smp_runtime.serving.batching import TOTALS_PREFIX, Batcher, BatchingApp
from smp_runtime.serving.settings import BatchSettings

from .test_app import CSV, Response, ThresholdModel, call


class RecordingModel(ThresholdModel):
    """ThresholdModel that records the rows of each predict call, optionally held by a gate."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[int] = []
        self.gate = gate
        self.started = threading.Event()

    def predict(self, rows: np.ndarray) -> np.ndarray:
        self.calls.append(len(rows))
        self.started.set()
        if self.gate is not None:
            self.gate.wait(timeout=30)
        return super().predict(rows)


def predict(data: Any, model: ThresholdModel) -> Any:
    return model.predict(data)


def batching_app(
    model: Any, max_batch_size: int = 32, predict_fn: Any = predict, **functions: Any
) -> BatchingApp:
    return BatchingApp(Model(model, predict_fn, **functions), 10_000, BatchSettings(max_batch_size))


Request = tuple[bytes, dict[str, str]]


async def _call(app: InvocationsApp, body: bytes, headers: dict[str, str]) -> Response:
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/invocations", "headers": raw_headers}
    await app(scope, receive, send)
    start, content = sent
    return Response(start["status"], dict(start["headers"]), content["body"])


def call_together(app: InvocationsApp, requests: list[Request]) -> list[Response]:
    """Starts every request in the same event-loop pass, as a burst of connections would."""

    async def burst() -> list[Response]:
        return await asyncio.gather(*(_call(app, body, headers) for body, headers in requests))

    return asyncio.run(burst())


def answer(response: Response) -> tuple[int, bytes, Any]:
    return response.status, response.headers.get(b"content-type", b""), response.body


def npy(array: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


JSON = {"Content-Type": "application/json"}
NPY = {"Content-Type": "application/x-npy"}

MIXED: list[Request] = [
    (b"6,0", CSV),
    (b"1,0\n7,0\n9,1", {**CSV, "Accept": "application/json"}),
    (b"x,0", CSV),  # malformed: its own 400, the others are unaffected
    (b"2,2\n8,8", {**CSV, "Accept": "application/x-npy"}),
    (b"[[6, 1], [0, 1]]", JSON),
    (b'{"instances": [[1, 1]]}', {**JSON, "Accept": "text/csv"}),
    (npy([[7.0, 0.0], [1.0, 0.0]]), {**NPY, "Accept": "application/json"}),
    (b"5.5,3", CSV),
]


def test_concurrent_requests_each_get_their_own_rows_in_their_own_type() -> None:
    model = RecordingModel()
    responses = call_together(batching_app(model), MIXED)
    inline = InvocationsApp(Model(ThresholdModel(), predict), 10_000)
    assert [answer(r) for r in responses] == [answer(call(inline, "POST", "/invocations", *r)) for r in MIXED]
    assert [r.status for r in responses] == [200, 200, 400, 200, 200, 200, 200, 200]
    assert responses[1].text == "[0, 1, 1]"
    assert np.load(io.BytesIO(responses[3].body)).tolist() == [0, 1]
    assert responses[5].text == "0\n"
    # One predict call per content type (CSV float64, JSON int64, NPY float64): 1 + 3 + 2 + 1 CSV rows.
    assert model.calls == [7, 3, 2]


def test_requests_that_arrive_during_a_predict_form_the_next_batch() -> None:
    gate = threading.Event()
    model = RecordingModel(gate)
    app = batching_app(model)

    async def scenario() -> list[Response]:
        first = asyncio.ensure_future(_call(app, b"6,0", CSV))
        await asyncio.to_thread(model.started.wait, 30)  # the model is busy with the first request
        later = [asyncio.ensure_future(_call(app, f"{n},0".encode(), CSV)) for n in range(4, 9)]
        await asyncio.sleep(0)  # let them all queue
        gate.set()
        return await asyncio.gather(first, *later)

    responses = asyncio.run(scenario())
    assert [r.text for r in responses] == ["1\n", "0\n", "0\n", "1\n", "1\n", "1\n"]
    assert model.calls == [1, 5]
    assert app.batcher.stats.sizes == {1: 1, 5: 1}


def test_batches_hold_at_most_the_maximum_number_of_requests() -> None:
    model = RecordingModel()
    responses = call_together(batching_app(model, max_batch_size=2), [(b"6,0\n1,1", CSV)] * 5)
    assert [r.text for r in responses] == ["1\n0\n"] * 5
    assert model.calls == [4, 4, 2]


def test_different_column_counts_do_not_share_a_batch() -> None:
    model = RecordingModel()
    responses = call_together(batching_app(model), [(b"6,0", CSV), (b"6,0,1", CSV), (b"7,0", CSV)])
    assert [r.status for r in responses] == [200, 400, 200]
    assert "X has 3 features" in responses[1].text
    assert model.calls == [2, 1]


def test_a_failing_request_in_a_batch_fails_alone(caplog: pytest.LogCaptureFixture) -> None:
    model = RecordingModel()
    app = batching_app(model)
    with caplog.at_level(logging.ERROR, logger="smp_runtime.serving"):
        responses = call_together(app, [(b"6,0", CSV), (b"-1,0\n6,0", CSV), (b"1,0\n7,0", CSV)])
    assert [(r.status, r.text) for r in responses] == [
        (200, "1\n"),
        (500, "model error: ZeroDivisionError: model blew up\n"),
        (200, "0\n1\n"),
    ]
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [ZeroDivisionError]
    assert model.calls == [5, 1, 2, 2]  # the batch, then each request alone
    assert app.batcher.stats.retried == 1
    assert app.batcher.enabled


def test_a_value_error_in_a_batch_is_a_400_for_its_request_only() -> None:
    def picky(data: np.ndarray, model: ThresholdModel) -> np.ndarray:
        if np.isnan(data).any():
            raise ValueError("Input X contains NaN.")
        return model.predict(data)

    responses = call_together(
        batching_app(ThresholdModel(), predict_fn=picky), [(b"6,0", CSV), (b"nan,0", CSV), (b"7,0", CSV)]
    )
    assert [(r.status, r.text) for r in responses] == [
        (200, "1\n"),
        (400, "the model rejected the input: Input X contains NaN.\n"),
        (200, "1\n"),
    ]


def test_a_predict_fn_that_changes_the_row_count_turns_batching_off(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def summary(data: np.ndarray, model: Any) -> list[float]:
        calls.append(len(data))
        return [float(data.sum())]  # one value per request, not per row

    app = batching_app(None, predict_fn=summary)
    with caplog.at_level(logging.WARNING, logger="smp_runtime.serving"):
        responses = call_together(app, [(b"1,2", CSV), (b"3,4\n5,6", CSV), (b"7,8", CSV)])
        assert [r.text for r in responses] == ["3.0\n", "18.0\n", "15.0\n"]
        assert not app.batcher.enabled
        assert calls == [4, 1, 2, 1]  # the batch, then each request alone
        later = call_together(app, [(b"1,1", CSV), (b"2,2\n3,3", CSV)])
    assert [r.text for r in later] == ["2.0\n", "10.0\n"]
    assert calls[4:] == [1, 2]  # from now on, one request per predict call
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "micro-batching turned off" in warnings[0] and "1 rows for 4 input rows" in warnings[0]


def test_a_lone_request_with_a_changed_row_count_is_answered_and_turns_batching_off() -> None:
    app = batching_app(None, predict_fn=lambda data, model: float(data.sum()))
    assert call(app, "POST", "/invocations", b"1,2\n3,4", CSV).text == "10.0\n"
    assert not app.batcher.enabled


def test_inputs_of_a_user_input_fn_that_are_not_arrays_are_predicted_alone() -> None:
    def input_fn(body: bytes, content_type: str) -> list[list[float]]:
        return [[float(v), 0.0] for v in body.split()]

    model = RecordingModel()
    app = batching_app(model, predict_fn=lambda data, m: m.predict(np.array(data)), input_fn=input_fn)
    responses = call_together(
        app, [(b"6 1", {"Content-Type": "text/plain", "Accept": "text/csv"}), (b"7", CSV)]
    )
    assert [(r.status, r.body) for r in responses] == [(200, b"1\n0\n"), (200, b"1\n")]
    assert model.calls == [2, 1]
    assert app.batcher.enabled


BAD_AND_GOOD_CASES: list[Request] = [
    (b"6,0\n1,0", CSV),
    (b"[[6, 0]]", {**JSON, "Accept": "text/csv"}),
    (b"6,0", {**CSV, "Accept": "application/x-npy"}),
    (b"6,x", CSV),
    (b"[[6,", JSON),
    (b"", CSV),
    (b"6,0", {"Content-Type": "text/plain"}),
    (b"6,0", {}),
    (b"6,0", {**CSV, "Accept": "text/html"}),
    (b"6,0,1", CSV),
    (b"x" * 10_001, {**CSV, "Content-Length": "10001"}),
    (b"-1,0", CSV),
]


@pytest.mark.parametrize(("body", "headers"), BAD_AND_GOOD_CASES)
def test_a_lone_request_is_answered_exactly_as_without_batching(body: bytes, headers: dict[str, str]) -> None:
    inline = InvocationsApp(Model(ThresholdModel(), predict), 10_000)
    batched = batching_app(ThresholdModel())
    assert answer(call(batched, "POST", "/invocations", body, headers)) == answer(
        call(inline, "POST", "/invocations", body, headers)
    )


def test_ping_and_other_paths_are_unchanged() -> None:
    app = batching_app(ThresholdModel())
    assert call(app, "GET", "/ping").status == 200
    assert call(app, "GET", "/invocations").status == 405
    assert call(app, "GET", "/models").status == 404


def test_the_batcher_counts_and_logs_its_batches(caplog: pytest.LogCaptureFixture) -> None:
    model = RecordingModel()
    app = BatchingApp(Model(model, predict), 10_000, BatchSettings(4))
    app.batcher.log_interval = 0  # a line after every batch
    with caplog.at_level(logging.INFO, logger="smp_runtime.serving"):
        call_together(app, [(b"6,0", CSV)] * 6)
        app.close()
    assert app.batcher.stats.as_dict() == {
        "batches": 2,
        "requests": 6,
        "rows": 6,
        "retried": 0,
        "max": 4,
        "sizes": {"2": 1, "4": 1},
    }
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("batching, last ") and "1 predict calls for 4 requests" in messages[0]
    totals = [m for m in messages if m.startswith(TOTALS_PREFIX)]
    assert json.loads(totals[0].removeprefix(TOTALS_PREFIX)) == app.batcher.stats.as_dict()


def test_a_full_batch_does_not_wait_for_the_delay() -> None:
    model = RecordingModel()
    app = BatchingApp(Model(model, predict), 10_000, BatchSettings(3, max_delay_ms=1000))
    responses = call_together(app, [(b"6,0", CSV)] * 3)
    assert [r.text for r in responses] == ["1\n"] * 3
    assert model.calls == [3]
    assert app.batcher._timer is None


def test_batcher_settings_come_from_batch_settings() -> None:
    batcher = Batcher(Model(None, predict), BatchSettings(16, max_delay_ms=2.5))
    assert (batcher.max_batch_size, batcher.max_delay) == (16, 0.0025)


def test_the_lifespan_shutdown_logs_the_totals(caplog: pytest.LogCaptureFixture) -> None:
    app = batching_app(ThresholdModel())
    call_together(app, [(b"6,0", CSV)] * 2)
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with caplog.at_level(logging.INFO, logger="smp_runtime.serving"):
        asyncio.run(app({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert [r.getMessage() for r in caplog.records] == [
        TOTALS_PREFIX + '{"batches": 1, "requests": 2, "rows": 2, "retried": 0, "max": 2, "sizes": {"2": 1}}'
    ]


def test_a_request_without_rows_is_predicted_alone_as_without_batching() -> None:
    def strict(data: np.ndarray, model: ThresholdModel) -> np.ndarray:
        if not len(data):
            raise ValueError("Found array with 0 sample(s)")
        return model.predict(data)

    responses = call_together(
        batching_app(ThresholdModel(), predict_fn=strict),
        [(b"6,0", CSV), (npy(np.zeros((0, 2))), NPY), (npy([[7.0, 0.0]]), NPY)],
    )
    assert [(r.status, r.body[:40]) for r in responses] == [
        (200, b"1\n"),
        (400, b"the model rejected the input: Found arra"),
        (200, npy([1])[:40]),
    ]


def test_a_batchs_answers_are_sent_before_the_next_batch_is_predicted() -> None:
    """Started at once, the next predict call would hold the GIL while the answers wait for it.

    (Without the ordering this fails most runs, not all: the predict thread races the loop.)"""
    gate = threading.Event()
    model = RecordingModel(gate)
    sent_before_predict: list[int] = []
    sent: list[bytes] = []

    def noting_predict(data: Any, model: RecordingModel) -> Any:
        sent_before_predict.append(len(sent))
        return model.predict(data)

    app = batching_app(model, predict_fn=noting_predict)

    async def one(body: bytes) -> None:
        response = await _call(app, body, CSV)
        sent.append(response.body)

    async def scenario() -> None:
        first = asyncio.ensure_future(one(b"6,0"))
        await asyncio.to_thread(model.started.wait, 30)
        later = [asyncio.ensure_future(one(f"{n},0".encode())) for n in range(4, 7)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(first, *later)

    asyncio.run(scenario())
    assert model.calls == [1, 3]
    assert sent_before_predict == [0, 1]


def test_with_a_delay_a_model_just_done_with_a_batch_waits_for_the_next_one_to_fill() -> None:
    """The clients just answered can then join the requests that queued during the predict call."""
    gate = threading.Event()
    model = RecordingModel(gate)
    app = BatchingApp(Model(model, predict), 10_000, BatchSettings(3, max_delay_ms=1000))

    async def scenario() -> list[Response]:
        first = [asyncio.ensure_future(_call(app, b"6,0", CSV)) for _ in range(3)]  # full: goes at once
        await asyncio.to_thread(model.started.wait, 30)
        queued = asyncio.ensure_future(_call(app, b"7,0", CSV))
        await asyncio.sleep(0)
        gate.set()
        answered = await asyncio.gather(*first)
        for _ in range(3):
            await asyncio.sleep(0)
        assert (app.batcher._busy, app.batcher._timer is not None) == (False, True)  # waiting, not predicting
        joining = [asyncio.ensure_future(_call(app, b"1,0", CSV)) for _ in range(2)]  # fills it: goes at once
        return [*answered, await queued, *await asyncio.gather(*joining)]

    responses = asyncio.run(scenario())
    assert [r.text for r in responses] == ["1\n"] * 4 + ["0\n"] * 2
    assert model.calls == [3, 3]
    assert app.batcher._timer is None


def test_without_a_delay_the_requests_queued_during_a_predict_go_next_without_waiting() -> None:
    gate = threading.Event()
    model = RecordingModel(gate)
    app = batching_app(model, max_batch_size=3)

    async def scenario() -> None:
        first = asyncio.ensure_future(_call(app, b"6,0", CSV))
        await asyncio.to_thread(model.started.wait, 30)
        queued = asyncio.ensure_future(_call(app, b"7,0", CSV))
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(first, queued)

    asyncio.run(scenario())
    assert model.calls == [1, 1]
    assert app.batcher._timer is None


def test_after_a_batch_the_model_waits_briefly_for_its_clients_to_come_back_as_one_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Closed-loop clients would otherwise take turns in two groups (the forest's 4.7 requests per
    call with 8 clients a worker); a lone request on an idle model still goes at once."""
    from smp_runtime.serving import batching

    # A wait far longer than the test: the batch goes because its clients are back, not on time.
    monkeypatch.setattr(batching, "MERGE_FRACTION", 1000.0)
    monkeypatch.setattr(batching, "MERGE_CAP_SECONDS", 60.0)
    gate = threading.Event()
    model = RecordingModel(gate)
    app = batching_app(model, max_batch_size=8)

    async def scenario() -> list[Response]:
        first = [asyncio.ensure_future(_call(app, b"6,0", CSV)) for _ in range(3)]
        await asyncio.to_thread(model.started.wait, 30)
        gate.set()
        answered = await asyncio.gather(*first)
        assert (app.batcher._busy, app.batcher._merge_target) == (False, 3)  # waiting for them
        back = []
        for _ in range(3):  # they come back one loop pass apart; the third completes the batch
            back.append(asyncio.ensure_future(_call(app, b"1,0", CSV)))
            await asyncio.sleep(0)
        return [*answered, *await asyncio.gather(*back)]

    responses = asyncio.run(scenario())
    assert [r.text for r in responses] == ["1\n"] * 3 + ["0\n"] * 3
    assert model.calls == [3, 3]


def test_a_client_that_does_not_come_back_is_not_waited_for_long() -> None:
    gate = threading.Event()
    model = RecordingModel(gate)
    app = batching_app(model, max_batch_size=8)

    async def scenario() -> list[Response]:
        threading.Timer(0.02, gate.set).start()  # a predict call of about 20 ms: a wait of about 2 ms
        answered = await asyncio.gather(*(_call(app, b"6,0", CSV) for _ in range(2)))
        alone = await _call(app, b"1,0", CSV)  # the other client never comes back
        return [*answered, alone]

    responses = asyncio.run(scenario())
    assert [r.text for r in responses] == ["1\n", "1\n", "0\n"]
    assert model.calls == [2, 1]
    assert app.batcher._merge_target == 0 and app.batcher._timer is None
