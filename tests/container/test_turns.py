"""Batching off, a slow model's requests take turns: arrival order, one predict call per loop pass.

Driven in-process on an asyncio loop whose passes are counted, so that what is checked is the
order of predict calls and the loop passes they fall in, never how long anything took: which
predict calls count as slow is set by patching the threshold, not by a slow model.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import numpy as np
import pytest
from smp_runtime.serving import app as app_module
from smp_runtime.serving.app import InvocationsApp, Model

CSV = [(b"content-type", b"text/csv")]


class Recorder:
    """A model whose predict_fn notes which request (its first feature) it saw in which loop pass."""

    def __init__(self) -> None:
        self.passes = 0
        self.calls: list[tuple[int, int]] = []  # (request number, loop pass)
        self.on_predict: dict[int, Any] = {}  # request number -> called inside its predict
        self.failing: set[int] = set()

    def count_passes(self) -> None:
        """Runs once in every pass of the loop (it reschedules itself into the next one)."""
        self.passes += 1
        asyncio.get_running_loop().call_soon(self.count_passes)

    def predict(self, data: np.ndarray, model: Any) -> np.ndarray:
        number = int(data[0, 0])
        self.calls.append((number, self.passes))
        if number in self.on_predict:
            self.on_predict[number]()
        if number in self.failing:
            raise ValueError(f"request {number} is bad")
        return data[:, 0]


async def exchange(app: InvocationsApp, number: int) -> list[dict[str, Any]]:
    """The ASGI messages the app sends for a CSV request of row `number,1`."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": f"{number},1".encode(), "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/invocations", "headers": CSV}
    await app(scope, receive, send)
    return sent


async def post(app: InvocationsApp, number: int) -> tuple[int, bytes]:
    sent = await exchange(app, number)
    return sent[0]["status"], sent[1]["body"]


def run(recorder: Recorder, scenario: Any) -> Any:
    async def main() -> Any:
        recorder.count_passes()
        return await asyncio.wait_for(scenario(), timeout=10)  # a lost turn would hang: fail instead

    return asyncio.run(main())


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def app(recorder: Recorder) -> InvocationsApp:
    return InvocationsApp(Model(None, recorder.predict), max_body_bytes=1000)


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "SLOW_PREDICT_SECONDS", -1.0)  # every predict call counts as slow


def test_a_slow_models_requests_take_turns_in_arrival_order_one_per_loop_pass(
    app: InvocationsApp, recorder: Recorder, slow: None
) -> None:
    async def scenario() -> list[tuple[int, bytes]]:
        assert await post(app, 0) == (200, b"0.0\n")  # alone: no turn to wait for; now known as slow
        burst = [asyncio.create_task(post(app, n)) for n in (1, 2, 3)]
        # Request 4 arrives while request 1 is predicted: after 2 and 3 were queued, so after them.
        late: list[asyncio.Task[tuple[int, bytes]]] = []
        recorder.on_predict[1] = lambda: late.append(asyncio.get_running_loop().create_task(post(app, 4)))
        return [await task for task in burst] + [await task for task in late]

    answers = run(recorder, scenario)

    assert answers == [(200, f"{n}.0\n".encode()) for n in (1, 2, 3, 4)]
    assert [number for number, _ in recorder.calls] == [0, 1, 2, 3, 4]
    passes = [loop_pass for _, loop_pass in recorder.calls[1:]]
    assert all(later > earlier for earlier, later in itertools.pairwise(passes)), recorder.calls
    assert not app._turns.busy and not app._turns.waiting


def test_a_fast_models_requests_are_predicted_back_to_back_as_before(
    app: InvocationsApp, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "SLOW_PREDICT_SECONDS", float("inf"))

    async def scenario() -> list[tuple[int, bytes]]:
        return list(await asyncio.gather(*(post(app, n) for n in (1, 2, 3))))

    assert run(recorder, scenario) == [(200, f"{n}.0\n".encode()) for n in (1, 2, 3)]
    assert len({loop_pass for _, loop_pass in recorder.calls}) == 1  # all in one pass, no turns taken
    assert not app._turns.busy


def test_a_failing_request_ends_its_turn_and_the_next_ones_are_answered(
    app: InvocationsApp, recorder: Recorder, slow: None
) -> None:
    recorder.failing.add(2)

    async def scenario() -> list[tuple[int, bytes]]:
        await post(app, 0)
        return list(await asyncio.gather(*(post(app, n) for n in (1, 2, 3))))

    answers = run(recorder, scenario)

    assert [status for status, _ in answers] == [200, 400, 200]
    assert b"request 2 is bad" in answers[1][1]
    assert not app._turns.busy and not app._turns.waiting


def test_a_request_cancelled_while_waiting_or_just_given_the_turn_does_not_keep_it(
    app: InvocationsApp, recorder: Recorder, slow: None
) -> None:
    async def scenario() -> dict[int, Any]:
        await post(app, 0)
        tasks = {n: asyncio.create_task(post(app, n)) for n in (1, 2, 3, 4, 5)}
        loop = asyncio.get_running_loop()
        # While 1 predicts, 2 to 5 queue up. In the next pass 4 is cancelled while it waits, and the
        # turn is handed to 2; in the pass after, 2 is cancelled before it could resume with it.
        recorder.on_predict[1] = lambda: (
            loop.call_soon(lambda: loop.call_soon(tasks[2].cancel)),
            loop.call_soon(tasks[4].cancel),
        )
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        return {n: task.cancelled() or task.result() for n, task in tasks.items()}

    outcome = run(recorder, scenario)

    assert outcome == {1: (200, b"1.0\n"), 2: True, 3: (200, b"3.0\n"), 4: True, 5: (200, b"5.0\n")}
    assert [number for number, _ in recorder.calls] == [0, 1, 3, 5]
    assert not app._turns.busy and not app._turns.waiting
