"""How the built-in server's workers share the listening socket (smp_runtime.serving.workers)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from smp_runtime.serving import workers


@pytest.fixture
def supervised(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """run_workers up to the fork: what the workers would inherit."""
    seen: dict[str, Any] = {}

    class Supervisor:
        def __init__(self, app: Any, sock: Any, count: int, graceful: int) -> None:
            seen["workers"] = count

        def run(self) -> int:
            seen["single_accept"] = os.environ.get(workers.SINGLE_ACCEPT)
            return 0

    monkeypatch.delenv(workers.SINGLE_ACCEPT, raising=False)
    monkeypatch.setattr(workers, "bind", lambda host, port: None)
    monkeypatch.setattr(workers, "Supervisor", Supervisor)
    monkeypatch.setattr(workers, "serve_forever", lambda app, sock, graceful: seen.update(single=True))
    return seen


def test_several_workers_accept_one_connection_per_loop_pass(supervised: dict[str, Any]) -> None:
    """libuv otherwise accepts a whole burst in the worker that woke first, which keeps those keep-alive
    connections: with a slow model its clients wait twice as long (docs/benchmarks.md, the forest)."""
    assert workers.run_workers(object(), "127.0.0.1", 8080, 2, 5) == 0
    assert supervised == {"workers": 2, "single_accept": "1"}


def test_one_worker_and_an_operators_own_setting_are_left_alone(
    supervised: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    workers.run_workers(object(), "127.0.0.1", 8080, 1, 5)
    assert supervised == {"single": True} and workers.SINGLE_ACCEPT not in os.environ
    monkeypatch.setenv(workers.SINGLE_ACCEPT, "0")
    workers.run_workers(object(), "127.0.0.1", 8080, 2, 5)
    assert supervised["single_accept"] == "0"


@pytest.mark.parametrize(("hands_off", "expected"), [(True, ["0 of 2", "1 of 2"]), (False, ["none", "none"])])
def test_each_forked_worker_gets_its_place_on_one_shared_board(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, hands_off: bool, expected: list[str]
) -> None:
    """Batching off, a worker hands requests to siblings through a board made before the fork."""
    seen = tmp_path / "seen"

    def serve_forever(app: Any, sock: Any, graceful: int, handoff: Any = None) -> None:
        with seen.open("a") as out:
            out.write("none\n" if handoff is None else f"{handoff.worker} of {handoff.board.workers}\n")

    class App:
        pass

    App.hands_off = hands_off
    monkeypatch.setattr(workers, "serve_forever", serve_forever)
    supervisor = workers.Supervisor(App(), None, 2, 1)
    for index in range(2):
        supervisor._spawn(index)
    for pid in list(supervisor.children):
        os.waitpid(pid, 0)

    assert sorted(seen.read_text().split("\n")[:-1]) == expected
    assert sorted(index for index, _ in supervisor.children.values()) == [0, 1]
