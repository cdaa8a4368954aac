"""The built-in server freezes what loading the model created before the workers fork."""

from __future__ import annotations

from pathlib import Path

import pytest
from smp_runtime.entry_points import UserEntryPoints
from smp_runtime.paths import SageMakerPaths
from smp_runtime.serving import server, workers

from .conftest import FakeEntryPoint


def test_the_model_is_frozen_out_of_garbage_collection_before_the_fork(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A full collection over a forest and scikit-learn took 40 ms, stalling every queued request."""
    events: list[str] = []
    monkeypatch.setattr(server.gc, "collect", lambda: events.append("collect"))
    monkeypatch.setattr(server.gc, "freeze", lambda: events.append("freeze"))
    monkeypatch.setattr(workers, "run_workers", lambda *args: events.append("fork") or 0)
    points = UserEntryPoints(
        "not-installed",
        {
            "model_fn": FakeEntryPoint(lambda model_dir: events.append("model loaded")),
            "predict_fn": FakeEntryPoint(lambda data, model: data),
        },  # type: ignore[dict-item]
    )

    assert server.run_builtin_server(points, SageMakerPaths(tmp_path)) == 0

    assert events == ["model loaded", "collect", "freeze", "fork"]
