"""The server's settings: worker count, port and limits from the environment."""

from __future__ import annotations

import pytest
from smp_runtime.serving import server


def test_workers_default_to_the_cores_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODEL_SERVER_WORKERS", raising=False)
    monkeypatch.setattr(server.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert server._int_setting("MODEL_SERVER_WORKERS", server.default_workers()) == 3
    monkeypatch.setenv("MODEL_SERVER_WORKERS", "5")
    assert server._int_setting("MODEL_SERVER_WORKERS", server.default_workers()) == 5


@pytest.mark.parametrize(("value", "message"), [("many", "must be an integer"), ("0", "must be at least 1")])
def test_bad_settings_stop_the_server_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", value)
    with pytest.raises(SystemExit, match=f"SAGEMAKER_BIND_TO_PORT.*{message}"):
        server._int_setting("SAGEMAKER_BIND_TO_PORT", server.DEFAULT_PORT)
