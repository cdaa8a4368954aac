"""Adaptive micro-batching: concurrent requests of a worker share one predict_fn call.

Used only when switched on (MODEL_SERVER_MAX_BATCH_SIZE > 1 or the package's table, see
settings.py); with batching off the server runs app.InvocationsApp, untouched.

In each worker, one thread runs predict_fn while the event loop keeps reading, parsing and
queueing requests (numpy and scikit-learn release the GIL for much of a predict call). When the
model is idle a request is predicted at once (with whatever arrived in the same loop pass);
requests that arrive while a predict runs form the next batch, up to the size limit.

Closed-loop clients (each sends its next request once answered) would then split into two groups
that take turns: the clients of batch N come back while batch N+1 predicts, so they form batch
N+2. So, after a batch of several requests, the model waits for its clients to come back, at most a
quarter of that predict call's time (MERGE_FRACTION, and MERGE_CAP_SECONDS at most), and goes as soon
as the batch holds as many requests as were queued plus just answered: one group, batches twice as
large, while a lone request on an idle model never waits. With MODEL_SERVER_MAX_BATCH_DELAY_MS > 0
an idle model, or one just done with a batch, waits that long for a batch to fill instead (a full
batch goes at once).

Only requests decoded to 2-D numpy arrays with the same content type, column count and dtype
share a batch; their rows are concatenated and each request gets back exactly its own rows,
encoded in its own Accept type. When a batched predict raises, the batch is retried request by
request, so that only the bad request fails. A predict_fn whose output row count differs from its
input's is not row-wise: batching is turned off for the worker (a warning says so) and every
request is answered from its own predict call. predict_fn never runs on two threads at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smp_runtime.serving.app import InvocationsApp, Model, Receive, Scope, Send
from smp_runtime.serving.settings import BatchSettings

LOG = logging.getLogger("smp_runtime.serving")

LOG_INTERVAL_SECONDS = 60.0
MERGE_FRACTION = 0.25  # of the last predict call: how long a model just done waits for its clients
MERGE_CAP_SECONDS = 0.005
TOTALS_PREFIX = "batching totals: "  # the line each worker logs when it stops (the benchmark reads it)


@dataclass
class BatchStats:
    """Predict calls made by the batcher and how many requests each one answered."""

    batches: int = 0
    requests: int = 0
    rows: int = 0
    retried: int = 0  # batches whose predict raised and were retried request by request
    sizes: Counter[int] = field(default_factory=Counter)  # requests per predict call -> calls

    def add(self, requests: int, rows: int) -> None:
        self.batches += 1
        self.requests += requests
        self.rows += rows
        self.sizes[requests] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "requests": self.requests,
            "rows": self.rows,
            "retried": self.retried,
            "max": max(self.sizes, default=0),
            "sizes": {str(size): count for size, count in sorted(self.sizes.items())},
        }

    def describe(self) -> str:
        mean = self.requests / self.batches if self.batches else 0.0
        return (
            f"{self.batches} predict calls for {self.requests} requests ({self.rows} rows), "
            f"{mean:.1f} requests per call, largest {max(self.sizes, default=0)}, "
            f"{self.retried} retried request by request"
        )


class _Request:
    __slots__ = ("data", "future", "key", "rows")

    def __init__(self, data: Any, key: Any, rows: int, future: asyncio.Future[Any]) -> None:
        self.data, self.key, self.rows, self.future = data, key, rows, future


def _row_count(prediction: Any) -> int | None:
    shape = getattr(prediction, "shape", None)
    if shape is not None:
        return shape[0] if len(shape) else None
    if isinstance(prediction, list | tuple):
        return len(prediction)
    return None


def _mismatch(prediction: Any, rows: int) -> str:
    """'' when `prediction` has one row per input row, else what it has instead."""
    found = _row_count(prediction)
    if found == rows:
        return ""
    what = f"{found} rows" if found is not None else f"a {type(prediction).__name__} without rows"
    return f"{what} for {rows} input rows"


def _rows_of(prediction: Any, start: int, stop: int) -> Any:
    rows = getattr(prediction, "iloc", prediction)  # pandas: by position
    return rows[start:stop]


class Batcher:
    """Queues decoded requests of one worker and answers each from a shared predict call."""

    def __init__(self, model: Model, settings: BatchSettings, log_interval: float = LOG_INTERVAL_SECONDS):
        self.model = model
        self.max_batch_size = settings.max_batch_size
        self.max_delay = settings.max_delay_ms / 1000
        self.log_interval = log_interval
        self.enabled = True  # False once predict_fn proved not to be row-wise
        self.stats = BatchStats()
        self._interval = BatchStats()
        self._interval_start = time.monotonic()
        self._pending: dict[Any, list[_Request]] = {}  # batch key -> requests, oldest key first
        self._busy = False
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._merge_target = 0  # while waiting for the clients just answered: the batch size to go at
        self._predict_started = 0.0
        self._executor: ThreadPoolExecutor | None = None  # made in the worker, after the fork

    async def predict(self, data: Any, media: str) -> Any:
        """predict_fn's answer for `data` alone; raises what predict_fn raised for it."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if type(data) is np.ndarray and data.ndim == 2 and len(data) and self.enabled:
            key: Any = (media, data.shape[1], data.dtype.str)
        else:
            key = future  # a key of its own: predicted alone (not rows of numbers, or no rows at all)
        group = self._pending.get(key)
        if group is None:
            group = self._pending[key] = []
        group.append(_Request(data, key, len(data) if key is not future else 0, future))
        if not self._busy:
            merging = self._merge_target > 0
            full = len(group) >= (self._merge_target or self.max_batch_size)
            if (self.max_delay == 0 and not merging) or full or key is future:
                if not self._scheduled:
                    self._scheduled = True
                    loop.call_soon(self._dispatch)
            elif self._timer is None:
                self._timer = loop.call_later(self.max_delay, self._dispatch)
        return await future

    def _dispatch(self) -> None:
        self._scheduled = False
        self._merge_target = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._busy or not self._pending:
            return
        key = next(iter(self._pending))
        group = self._pending[key]
        size = self.max_batch_size if self.enabled else 1
        batch = group[:size]
        del group[:size]
        if not group:
            del self._pending[key]
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smp-predict")
        self._busy = True
        self._predict_started = time.monotonic()
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(self._executor, self._predict_batch, batch)
        done.add_done_callback(lambda finished: self._finished(batch, finished))

    def _predict_batch(self, batch: list[_Request]) -> tuple[list[tuple[bool, Any]], str, bool]:
        """In the predict thread: (ok, prediction or exception) per request, why batching must stop
        ('' if it need not) and whether the batch was retried request by request."""
        model = self.model
        if len(batch) == 1:
            request = batch[0]
            try:
                prediction = model.predict_fn(request.data, model.model)
            except Exception as error:  # noqa: BLE001 - answered to its request as the inline path does
                return [(False, error)], "", False
            if request.key is request.future:  # not a batchable array: nothing to check
                return [(True, prediction)], "", False
            return [(True, prediction)], _mismatch(prediction, request.rows), False
        data = np.concatenate([request.data for request in batch])
        try:
            prediction = model.predict_fn(data, model.model)
        except Exception:  # noqa: BLE001 - retried one by one: only the bad request fails
            return self._one_by_one(batch), "", True
        mismatch = _mismatch(prediction, len(data))
        if mismatch:
            return self._one_by_one(batch), mismatch, False
        answers = []
        start = 0
        for request in batch:
            stop = start + request.rows
            answers.append((True, _rows_of(prediction, start, stop)))
            start = stop
        return answers, "", False

    def _one_by_one(self, batch: list[_Request]) -> list[tuple[bool, Any]]:
        model = self.model
        answers: list[tuple[bool, Any]] = []
        for request in batch:
            try:
                answers.append((True, model.predict_fn(request.data, model.model)))
            except Exception as error:  # noqa: BLE001 - answered to its own request
                answers.append((False, error))
        return answers

    def _finished(self, batch: list[_Request], done: asyncio.Future[Any]) -> None:
        self._busy = False
        try:
            answers, mismatch, retried = done.result()
        except BaseException as error:  # noqa: BLE001 - e.g. SystemExit in predict_fn: every request gets it
            answers, mismatch, retried = [(False, error)] * len(batch), "", False
        if mismatch and self.enabled:
            self.enabled = False
            LOG.warning(
                "micro-batching turned off in this worker: predict_fn returned %s, so its output "
                "cannot be split per request; each request is now predicted alone. Make predict_fn "
                "return one prediction per input row, or unset %s",
                mismatch,
                "MODEL_SERVER_MAX_BATCH_SIZE / [tool.sagemaker-pipeline] max-batch-size",
            )
        rows = sum(request.rows for request in batch)
        for stats in (self.stats, self._interval):
            stats.add(len(batch), rows)
            stats.retried += retried
        for request, (ok, value) in zip(batch, answers, strict=True):
            if request.future.done():  # the waiting task was cancelled
                continue
            if ok:
                request.future.set_result(value)
            else:
                request.future.set_exception(value)
        now = time.monotonic()
        if not self._scheduled and self._timer is None:
            self._schedule_next(batch, now - self._predict_started)
        if now - self._interval_start >= self.log_interval:
            LOG.info("batching, last %.0f s: %s", now - self._interval_start, self._interval.describe())
            self._interval = BatchStats()
            self._interval_start = now

    def _schedule_next(self, answered: list[_Request], predict_seconds: float) -> None:
        loop = asyncio.get_running_loop()
        oldest = next(iter(self._pending.values()), None)
        fills = self.enabled and (oldest is None or oldest[0].key is not oldest[0].future)
        waiting = len(oldest) if oldest else 0
        if self.max_delay:
            if oldest is not None and fills and waiting < self.max_batch_size:
                # With a delay, the model just freed waits for the batch to fill as an idle one does:
                # the clients just answered can join it instead of forming a batch of their own.
                self._timer = loop.call_later(self.max_delay, self._dispatch)
                return
        else:
            batchable = answered[0].key is not answered[0].future
            target = min(self.max_batch_size, waiting + len(answered))
            if len(answered) > 1 and batchable and fills and waiting < target:
                self._merge_target = target
                wait = min(MERGE_FRACTION * predict_seconds, MERGE_CAP_SECONDS)
                self._timer = loop.call_later(wait, self._dispatch)
                return
        if oldest is not None:
            # In the next loop pass, after the requests just answered have written their answers:
            # started now, the next predict would hold the GIL while they wait for it.
            self._scheduled = True
            loop.call_soon(self._dispatch)

    def close(self) -> None:
        """Logs the worker's totals (one JSON line) and stops the predict thread."""
        if self.stats.batches:
            LOG.info("%s%s", TOTALS_PREFIX, json.dumps(self.stats.as_dict()))
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None


class BatchingApp(InvocationsApp):
    """InvocationsApp whose predictions go through a Batcher; every other step is the same."""

    hands_off = False  # a busy worker batches what waits instead

    def __init__(self, model: Model, max_body_bytes: int, settings: BatchSettings) -> None:
        super().__init__(model, max_body_bytes)
        self.batcher = Batcher(model, settings)

    handles_lifespan = True  # workers.serve_forever turns uvicorn's lifespan on: close() at shutdown

    def close(self) -> None:
        self.batcher.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = await self._decode(scope, receive, send)
        if request is None:
            return
        data, media, encoding = request
        try:
            prediction = await self.batcher.predict(data, media)
        except Exception as error:  # noqa: BLE001 - any model failure is answered, never crashes the worker
            await self._model_failed(send, error)
            return
        await self._answer(send, encoding, prediction)
