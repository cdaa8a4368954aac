"""Several workers, batching off: a request waiting behind others moves, with its connection, to a
worker whose queue is shorter.

A keep-alive connection is read by the worker that accepted it, and the client sends its next
request only when answered, so with a slow model each worker's clients wait for that worker's own
queue: 16 forest clients split 7/9 or 5/11 had a p99 of about 9 or 11 predict calls, where nginx in
front of gunicorn hands every request to a free worker. Here a worker about to queue a request
behind others looks at its siblings' queues (counters in memory shared across the fork); when one
is shorter, it sends the connection's descriptor and the request, rebuilt as bytes, over a unix
socket (SCM_RIGHTS), and closes its own descriptor without a byte written. The sibling adopts the
connection as if it had accepted it, answers the request and keeps serving the connection. The
client sees one connection answering in order. A worker only considers this while its predict calls
are slow (see app._Turns), so a cheap model's hot path never pays for it.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import socket
import struct
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

LOG = logging.getLogger("smp_runtime.serving")

# One datagram carries the request: larger bodies are answered where they arrived.
MAX_REQUEST_BYTES = 60_000
Factory = Callable[[], Any]  # makes the protocol for one connection
_SENDER = struct.Struct("!H")
CLOSED_QUEUE = 1 << 40  # the queue a worker shows while it shuts down: longer than any other
_MAX_DATAGRAM = _SENDER.size + MAX_REQUEST_BYTES + 4096
_SKIPPED_HEADERS = frozenset((b"content-length", b"transfer-encoding", b"expect"))


class Board:
    """Queue lengths and hand-over counts of every worker, in memory shared across the fork.

    Each counter has one writer, so no lock is needed: queued[i] and sent[i][j] are written by
    worker i, adopted[j][i] by worker j. A connection is in flight to j while sent[i][j] exceeds
    adopted[j][i]; a worker counts it in j's queue so that it does not send j a whole burst before j
    has read the first.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._memory = mmap.mmap(-1, 8 * (workers + 2 * workers * workers))
        view = memoryview(self._memory).cast("q")
        self.queued = view[:workers]
        self.sent = view[workers : workers + workers * workers]
        self.adopted = view[workers + workers * workers :]

    def queue_of(self, worker: int) -> int:
        """Requests queued at `worker`, counting connections on their way to it."""
        n = self.workers
        in_flight = sum(self.sent[i * n + worker] - self.adopted[worker * n + i] for i in range(n))
        return self.queued[worker] + in_flight

    def shorter_queue(self, worker: int, own_queue: int) -> int | None:
        """The sibling with the shortest queue, if shorter than `own_queue`; else None."""
        best, best_queue = None, own_queue
        for sibling in range(self.workers):
            if sibling != worker:
                queue = self.queue_of(sibling)
                if queue < best_queue:
                    best, best_queue = sibling, queue
        return best


class Channels:
    """One unix datagram socket pair per worker, made before the fork: worker j reads its own."""

    def __init__(self, workers: int) -> None:
        self.pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(workers)]
        for inbox, outbox in self.pairs:
            inbox.setblocking(False)
            outbox.setblocking(False)

    def inbox(self, worker: int) -> socket.socket:
        return self.pairs[worker][0]

    def outbox(self, worker: int) -> socket.socket:
        return self.pairs[worker][1]


def rebuild_request(scope: dict[str, Any], body: bytes) -> bytes:
    """The request as bytes an HTTP/1.1 parser reads back to the same method, target, headers, body."""
    target = scope["raw_path"]
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    lines = [scope["method"].encode("ascii") + b" " + target + b" HTTP/1.1"]
    lines.extend(name + b": " + value for name, value in scope["headers"] if name not in _SKIPPED_HEADERS)
    lines.append(b"content-length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class Handoff:
    """One worker's side: publishes its queue, picks a sibling, sends and adopts connections."""

    def __init__(self, board: Board, channels: Channels, worker: int) -> None:
        self.board = board
        self.channels = channels
        self.worker = worker
        self.handed = 0
        self.adopted = 0
        self.closing = False
        board.queued[worker] = 0  # a restarted worker starts with an empty queue

    def publish(self, queued: int) -> None:
        if not self.closing:
            self.board.queued[self.worker] = queued

    def close(self) -> None:
        """From now on no sibling sends this worker anything: it is shutting down."""
        self.closing = True
        self.board.queued[self.worker] = CLOSED_QUEUE

    def sibling_for(self, own_queue: int) -> int | None:
        return self.board.shorter_queue(self.worker, own_queue)

    def send(self, sibling: int, descriptor: int, request: bytes) -> bool:
        """Sends the connection and its request to `sibling`; False (nothing sent) when it cannot."""
        try:
            socket.send_fds(self.channels.outbox(sibling), [_SENDER.pack(self.worker), request], [descriptor])
        except OSError:  # its inbox is full: answer here
            return False
        self.board.sent[self.worker * self.board.workers + sibling] += 1
        self.handed += 1
        return True

    def listen(self, loop: asyncio.AbstractEventLoop, protocol_factory: Factory) -> None:
        """Adopts, on `loop`, every connection a sibling sends this worker."""
        inbox = self.channels.inbox(self.worker)
        loop.add_reader(inbox.fileno(), self._receive, loop, inbox, protocol_factory)

    def _receive(self, loop: asyncio.AbstractEventLoop, inbox: socket.socket, factory: Factory) -> None:
        while True:
            try:
                message, descriptors, _flags, _address = socket.recv_fds(inbox, _MAX_DATAGRAM, 1)
            except BlockingIOError:
                return
            if len(message) < _SENDER.size:
                continue
            (sender,) = _SENDER.unpack_from(message)
            self.board.adopted[self.worker * self.board.workers + sender] += 1
            if descriptors:
                connection = socket.socket(fileno=descriptors[0])
                connecting = loop.connect_accepted_socket(factory, connection)
                loop.create_task(self._adopt(connecting, connection, message))

    async def _adopt(self, connecting: Any, connection: socket.socket, message: bytes) -> None:
        try:
            _transport, protocol = await connecting
        except OSError as error:  # the client went away in between
            LOG.warning("could not adopt a connection from a sibling worker: %s", error)
            connection.close()
            return
        self.adopted += 1
        protocol.adopt(message[_SENDER.size :])


def protocol_class(handoff: Handoff) -> type:
    """uvicorn's httptools protocol, able to give its connection away while a request waits."""

    class HandoffProtocol(HttpToolsProtocol):
        _adopting = False

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._adopting:  # a request handed over once is answered here
                self._adopting = False
            else:
                self.scope["smp.handoff"] = self  # type: ignore[typeddict-unknown-key]

        def adopt(self, request: bytes) -> None:
            self._adopting = True
            self.data_received(request)

        def hand_off(self, scope: dict[str, Any], body: bytes, sibling: int) -> bool:
            """Gives the connection and the request of `scope` to `sibling`; False leaves both here.

            Only a connection with nothing else read from it and nothing left to write moves:
            the sibling must find every later byte of the client in the socket.
            """
            cycle = self.cycle
            if (
                self.scope is not scope
                or self.pipeline
                or cycle is None
                or cycle.response_started
                or scope.get("http_version", "1.1") != "1.1"
                or self.transport.is_closing()
                or self.transport.get_write_buffer_size()
            ):
                return False
            request = rebuild_request(scope, body)
            raw_socket = self.transport.get_extra_info("socket")
            if len(request) > MAX_REQUEST_BYTES or raw_socket is None:
                return False
            if not handoff.send(sibling, raw_socket.fileno(), request):
                return False
            # The sibling answers: uvicorn must neither answer nor wait for this request any more.
            cycle.response_started = cycle.response_complete = True
            self.transport.close()  # closes this worker's descriptor only; the connection lives on
            return True

    return HandoffProtocol


class AdoptingServer(uvicorn.Server):
    """uvicorn's server, which also adopts the connections sibling workers hand over."""

    def __init__(self, config: uvicorn.Config, handoff: Handoff) -> None:
        super().__init__(config)
        self.handoff = handoff

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        config = self.config

        def protocol() -> Any:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        self.handoff.listen(asyncio.get_running_loop(), protocol)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Connections already on their way here are still adopted and answered while it drains.
        self.handoff.close()
        await super().shutdown(sockets)
        # Here, not after run(): uvicorn re-raises the SIGTERM it caught once run() is over.
        if not (self.handoff.handed or self.handoff.adopted):
            return
        LOG.warning(
            "worker %d: handed %d request(s) to sibling workers, adopted %d",
            self.handoff.worker,
            self.handoff.handed,
            self.handoff.adopted,
        )
