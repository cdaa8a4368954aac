"""The built-in model server as a bare ASGI application: GET /ping and POST /invocations.

Kept lean on purpose (it is the hot path measured against nginx + gunicorn + flask): one pass
over the headers, cached content negotiation, no per-request logging, predictions run inline on
the worker's event loop (each worker is one process, CPU-bound models gain nothing from threads).

Predictions take turns in arrival order, one per pass of the event loop (see `_Turns`), so that a
slow model cannot starve a keep-alive client whose next request lands just after the loop polled.
With several workers, a request that would wait here moves to a sibling with a shorter queue
(smp_runtime.serving.handoff).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from smp_runtime.serving.codecs import DECODERS, ENCODERS, SUPPORTED, Negotiator

LOG = logging.getLogger("smp_runtime.serving")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


@dataclass(frozen=True)
class Model:
    """A loaded model and the user's functions around it."""

    model: Any
    predict_fn: Callable[[Any, Any], Any]
    input_fn: Callable[[bytes, str], Any] | None = None
    output_fn: Callable[[Any, str], Any] | None = None


class _Turns:
    """First come, first served predict calls on one event loop, one call per loop pass.

    Run back to back, the requests an event loop pass found would all be answered before the loop
    polls again, and the client answered last would send its next request just after that poll:
    with a slow model, the same few keep-alive clients then wait two passes instead of one, every
    time (the p99 of a 16-client forest was 2 to 4 times its median). Taking turns, the turn passes
    to the next waiter only in the next loop pass, after the loop has read whatever arrived
    meanwhile and queued it behind the waiters, so a request waits for the ones before it only.

    A turn costs a task switch per request (about 9 us on the bench machine), which a model answering
    in a fraction of a millisecond would feel and hardly needs (its passes are short): turns are
    taken only while the last predict call took longer than SLOW_PREDICT_SECONDS.
    """

    __slots__ = ("busy", "predict_seconds", "publish", "slow", "waiting")

    def __init__(self) -> None:
        self.busy = False  # a request has the turn; the others wait in `waiting`
        self.slow = False  # the last predict call took longer than SLOW_PREDICT_SECONDS
        self.predict_seconds = 0.0  # a moving average of the predict calls' time
        self.waiting: deque[asyncio.Future[None]] = deque()
        self.publish: Callable[[int], None] | None = None  # tells sibling workers the queue's length

    def queued(self) -> int:
        return self.busy + len(self.waiting)

    def take(self) -> None:
        """Takes the free turn (the caller found `busy` unset)."""
        self.busy = True
        self._published()

    async def wait(self) -> None:
        """Waits for the turn while another request has it (the caller found `busy` set)."""
        turn = asyncio.get_running_loop().create_future()
        self.waiting.append(turn)
        self._published()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # the turn was handed over: hand it on
                self.end()
            raise

    def end(self) -> None:
        """Ends the current turn; the next waiter (if any) gets it in the next loop pass."""
        asyncio.get_running_loop().call_soon(self._next)

    def _next(self) -> None:
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # busy stays True: the turn is that waiter's now
                break
        else:
            self.busy = False
        self._published()

    def _published(self) -> None:
        if self.publish is not None:
            self.publish(self.queued())


SLOW_PREDICT_SECONDS = 0.001
# Moving a request to a sibling costs about as much as a cheap model's predict call: only models
# whose calls take this long on average move them (a cheap one's occasional preempted call is no
# reason to; it moved 0.5% of its requests and that was its p99).
HANDOFF_PREDICT_SECONDS = 0.003


class InvocationsApp:
    hands_off = True  # requests may move to a sibling worker (see use_handoff)

    def __init__(self, model: Model | None, max_body_bytes: int) -> None:
        self.model = model
        self.max_body_bytes = max_body_bytes
        self._turns = _Turns()
        self.negotiator = Negotiator(
            DECODERS,
            ENCODERS,
            any_decoder=model.input_fn if model else None,
            any_encoder=model.output_fn if model else None,
        )
        self._content_type_headers: dict[str, bytes] = {}
        self._handoff: Any = None

    def use_handoff(self, handoff: Any) -> None:
        """With several workers: a handoff.Handoff that finds siblings with shorter queues."""
        self._handoff = handoff
        self._turns.publish = handoff.publish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/invocations":
            if scope["method"] == "POST":
                await self._invoke(scope, receive, send)
            else:
                await _respond(send, 405, b"use POST /invocations\n", _TEXT)
        elif path == "/ping":
            if scope["method"] not in ("GET", "HEAD"):
                await _respond(send, 405, b"use GET /ping\n", _TEXT)
            elif self.model is None:
                await _respond(send, 503, b"model not loaded\n", _TEXT)
            else:
                await _respond(send, 200, b"", _TEXT)
        else:
            await _respond(send, 404, b"not found: use GET /ping or POST /invocations\n", _TEXT)

    async def _invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        turns = self._turns
        body = None
        if turns.busy and self._handoff is not None and turns.predict_seconds > HANDOFF_PREDICT_SECONDS:
            sibling = self._handoff.sibling_for(turns.queued())
            protocol = scope.get("smp.handoff")
            if sibling is not None and protocol is not None and self.model is not None:
                body = await self._read_body(receive)
                if body is None:
                    await self._too_large(send)
                    return
                if protocol.hand_off(scope, body, sibling):
                    return
        request = await self._decode(scope, receive, send, body)
        if request is None:
            return
        data, _media, encoding = request
        model = self.model
        assert model is not None
        if turns.busy:
            await turns.wait()
        elif turns.slow:
            turns.take()
        started = perf_counter()
        try:
            prediction = model.predict_fn(data, model.model)
        except Exception as error:  # noqa: BLE001 - any model failure is answered, never crashes the worker
            await self._model_failed(send, error)
            return
        finally:
            # A failed call's time includes answering it: turns are a matter of order, not precision.
            elapsed = perf_counter() - started
            turns.slow = elapsed > SLOW_PREDICT_SECONDS
            turns.predict_seconds += (elapsed - turns.predict_seconds) * 0.125
            if turns.busy:
                turns.end()
        await self._answer(send, encoding, prediction)

    async def _decode(
        self, scope: Scope, receive: Receive, send: Send, body: bytes | None = None
    ) -> tuple[Any, str, Any] | None:
        """(decoded input, its media type, the encoder for the answer); None once an error is answered.

        `body` is the request's body when the caller has read it already.
        """
        if self.model is None:
            await _respond(send, 503, b"model not loaded\n", _TEXT)
            return None
        content_type = accept = b""
        length = 0
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"accept":
                accept = value
            elif name == b"content-length":
                length = int(value)
        if length > self.max_body_bytes:
            await self._too_large(send)
            return None
        if body is None:
            body = await self._read_body(receive)
        if body is None:
            await self._too_large(send)
            return None
        decoding = self.negotiator.decoder(content_type)
        if decoding is None:
            shown = content_type.decode("latin-1")
            message = f"unsupported Content-Type {shown!r}; use one of {', '.join(SUPPORTED)}"
            await _respond(send, 415, message.encode() + b"\n", _TEXT)
            return None
        encoding = self.negotiator.encoder(accept, decoding[0])
        if encoding is None:
            message = (
                f"cannot answer in Accept {accept.decode('latin-1')!r}; accept one of {', '.join(SUPPORTED)}"
            )
            await _respond(send, 406, message.encode() + b"\n", _TEXT)
            return None
        if not body:
            await _respond(send, 400, b"empty request body: send at least one record\n", _TEXT)
            return None
        try:
            return decoding[1](body), decoding[0], encoding
        except ValueError as error:  # a PayloadError, or a user input_fn rejecting the body
            await _respond(send, 400, f"bad payload: {error}\n".encode(), _TEXT)
        except Exception as error:  # noqa: BLE001 - anything else in decoding is a server error
            await self._server_error(send, "input", error)
        return None

    async def _model_failed(self, send: Send, error: Exception) -> None:
        if isinstance(error, ValueError):
            # scikit-learn & co. raise ValueError for inputs they cannot take (feature count, NaN).
            await _respond(send, 400, f"the model rejected the input: {error}\n".encode(), _TEXT)
        else:
            await self._server_error(send, "model", error)

    async def _answer(self, send: Send, encoding: Any, prediction: Any) -> None:
        try:
            payload = encoding[1](prediction)
        except Exception as error:  # noqa: BLE001 - predictions the encoder cannot write are a server error
            await self._server_error(send, "output", error)
            return
        response_type = encoding[0]
        if type(payload) is tuple:  # a user output_fn may return (body, content_type)
            payload, response_type = payload
        if isinstance(payload, str):
            payload = payload.encode()
        await _respond(send, 200, payload, [(b"content-type", self._content_type_header(response_type))])

    async def _read_body(self, receive: Receive) -> bytes | None:
        message = await receive()
        body = message.get("body", b"")
        if not message.get("more_body"):
            return body if len(body) <= self.max_body_bytes else None
        chunks = [body]
        size = len(body)
        while message.get("more_body"):
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _content_type_header(self, media: str) -> bytes:
        header = self._content_type_headers.get(media)
        if header is None:
            header = self._content_type_headers.setdefault(media, media.encode("latin-1"))
        return header

    async def _too_large(self, send: Send) -> None:
        limit = f"request body larger than {self.max_body_bytes} bytes; send fewer records per request\n"
        await _respond(send, 413, limit.encode(), _TEXT)

    @staticmethod
    async def _server_error(send: Send, stage: str, error: Exception) -> None:
        LOG.exception("%s error while answering /invocations", stage)
        await _respond(send, 500, f"{stage} error: {type(error).__name__}: {error}\n".encode(), _TEXT)


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
