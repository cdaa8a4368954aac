"""Several workers, batching off: a request that would queue moves with its connection to a sibling
whose queue is shorter (smp_runtime.serving.handoff).

The two "workers" are threads running the real uvicorn server, protocol and app, sharing a Board
and Channels as forked workers would. Only worker 0 listens, so every connection lands there and
the only way worker 1 answers anything is by adopting a connection worker 0 handed over.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httptools
import numpy as np
import pytest
import uvicorn
from smp_runtime.serving import app as app_module
from smp_runtime.serving import handoff as handoff_module
from smp_runtime.serving.app import InvocationsApp, Model
from smp_runtime.serving.handoff import (
    AdoptingServer,
    Board,
    Channels,
    Handoff,
    protocol_class,
    rebuild_request,
)

CSV = {"Content-Type": "text/csv"}
PREDICT_SECONDS = 0.03  # slow enough for turns (app.SLOW_PREDICT_SECONDS); time.sleep frees the GIL


def slow_model(worker: int) -> Model:
    def predict(data: np.ndarray, model: Any) -> np.ndarray:
        time.sleep(PREDICT_SECONDS)
        return np.column_stack([data[:, 0], np.full(len(data), worker)])

    return Model(model=None, predict_fn=predict)


class Workers:
    def __init__(self, listener: socket.socket, count: int = 2) -> None:
        board, channels = Board(count), Channels(count)
        self.handoffs = [Handoff(board, channels, worker) for worker in range(count)]
        self.servers = []
        self.threads = []
        for worker, handoff in enumerate(self.handoffs):
            app = InvocationsApp(slow_model(worker), 1 << 20)
            app.use_handoff(handoff)
            config = uvicorn.Config(
                app, loop="uvloop", http=protocol_class(handoff), lifespan="off", log_level="warning"
            )
            server = AdoptingServer(config, handoff)
            sockets = [listener] if worker == 0 else []
            thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, name=f"worker-{worker}")
            self.servers.append(server)
            self.threads.append(thread)

    def __enter__(self) -> Workers:
        for thread in self.threads:
            thread.start()
        deadline = time.monotonic() + 10
        while not all(server.started for server in self.servers):
            assert time.monotonic() < deadline, "the worker threads did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.should_exit = True
        for thread in self.threads:
            thread.join(timeout=10)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


Answer = tuple[int, int, int, int]  # (sent, answered as, worker, the client's local port)


def client(port: int, number: int, requests: int) -> list[Answer]:
    """`requests` requests on one keep-alive connection: (sent, answered as, worker, local port)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    answers = []
    try:
        for request in range(requests):
            sent = number * 100 + request
            connection.request("POST", "/invocations", body=f"{sent},1,2,3", headers=CSV)
            response = connection.getresponse()
            body = response.read().decode()
            assert response.status == 200, body
            answered, worker = (int(float(value)) for value in body.strip().split(","))
            answers.append((sent, answered, worker, connection.sock.getsockname()[1]))
    finally:
        connection.close()
    return answers


def serve_clients(listener: socket.socket, clients: int, requests: int) -> tuple[Workers, list[list[Answer]]]:
    """`clients` keep-alive clients at once, each sending `requests`; the workers and every answer."""
    port = listener.getsockname()[1]
    with Workers(listener) as workers, ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda number: client(port, number, requests), range(clients)))
    return workers, results


def test_waiting_requests_move_to_the_idle_worker_and_each_gets_its_own_answer(listener: socket.socket):
    workers, results = serve_clients(listener, 6, 6)

    answers = [answer for result in results for answer in result]
    assert len(answers) == 36
    assert all(sent == answered for sent, answered, _, _ in answers)
    assert {worker for _, _, worker, _ in answers} == {0, 1}, "worker 1 answered nothing: no handoff"
    # one connection per client from first to last request: the client never noticed the move
    assert all(len({local_port for *_, local_port in result}) == 1 for result in results)
    assert workers.handoffs[0].handed > 0
    assert workers.handoffs[1].adopted == workers.handoffs[0].handed


def test_a_connection_moved_to_a_sibling_keeps_its_request_order(listener: socket.socket) -> None:
    _, results = serve_clients(listener, 4, 8)

    for number, result in enumerate(results):
        assert [answered for _, answered, _, _ in result] == [number * 100 + i for i in range(8)]


def test_a_lone_client_is_never_moved(listener: socket.socket) -> None:
    workers, results = serve_clients(listener, 1, 5)

    assert {worker for _, _, worker, _ in results[0]} == {0}
    assert workers.handoffs[0].handed == 0


def test_a_body_too_large_for_one_datagram_is_answered_where_it_arrived(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handoff_module, "MAX_REQUEST_BYTES", 10)
    workers, results = serve_clients(listener, 4, 4)

    assert {answer[2] for result in results for answer in result} == {0}
    assert workers.handoffs[0].handed == 0


class Parsed:
    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


def test_a_rebuilt_request_parses_back_to_the_same_request() -> None:
    scope = {
        "method": "POST",
        "raw_path": b"/invocations",
        "query_string": b"a=1",
        "headers": [
            (b"host", b"example"),
            (b"content-type", b"text/csv"),
            (b"transfer-encoding", b"chunked"),
            (b"accept", b"application/json"),
        ],
    }
    parsed = Parsed()
    parser = httptools.HttpRequestParser(parsed)

    parser.feed_data(rebuild_request(scope, b"1,2\n3,4"))

    assert parsed.complete
    assert parser.get_method() == b"POST"
    assert parsed.url == b"/invocations?a=1"
    assert parsed.body == b"1,2\n3,4"
    assert parsed.headers == [
        (b"host", b"example"),
        (b"content-type", b"text/csv"),
        (b"accept", b"application/json"),
        (b"content-length", b"7"),
    ]


def test_the_board_counts_connections_on_their_way_in_a_siblings_queue() -> None:
    board = Board(3)
    board.queued[0], board.queued[1], board.queued[2] = 4, 2, 3

    assert board.shorter_queue(0, 4) == 1
    assert board.shorter_queue(1, 2) is None  # nobody is shorter: stay

    board.sent[0 * 3 + 1] += 2  # two connections sent by 0 to 1, not yet read by 1
    assert board.queue_of(1) == 4
    assert board.shorter_queue(0, 4) == 2

    board.adopted[1 * 3 + 0] += 2  # 1 read them (its queue counts them from here on)
    assert board.queue_of(1) == 2


def test_a_full_inbox_keeps_the_request_here() -> None:
    board, channels = Board(2), Channels(2)
    sender = Handoff(board, channels, 0)
    a, b = socket.socketpair()
    try:
        sent = 0
        while sender.send(1, a.fileno(), b"x" * 50_000):
            sent += 1
            assert sent < 10_000, "the inbox never filled"
        assert board.sent[1] == sent == sender.handed
    finally:
        a.close()
        b.close()


def test_a_worker_shutting_down_gets_nothing_more() -> None:
    board, channels = Board(2), Channels(2)
    stopping, other = Handoff(board, channels, 0), Handoff(board, channels, 1)
    other.publish(50)

    stopping.close()
    stopping.publish(0)  # its app's last turns do not reopen it

    assert other.sibling_for(50) is None
    assert stopping.sibling_for(10**6) == 1


def test_a_model_cheaper_than_a_move_keeps_its_requests(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moving costs about one cheap predict call: only models slower on average than the threshold move."""
    monkeypatch.setattr(app_module, "HANDOFF_PREDICT_SECONDS", 10.0)  # the 30 ms model counts as cheap
    workers, results = serve_clients(listener, 4, 4)

    assert {answer[2] for result in results for answer in result} == {0}
    assert workers.handoffs[0].handed == 0
