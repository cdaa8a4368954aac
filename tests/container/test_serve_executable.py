"""`serve` as a process: the built-in server over real HTTP, the seed-style user server, failures."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import numpy as np
import requests

from .conftest import (
    EXAMPLES,
    IRIS_CSV,
    Installed,
    RunningServer,
    free_port,
    start_builtin_server,
    start_server,
)

ROWS = np.loadtxt(IRIS_CSV, delimiter=",")[:, 1:]


def expected_labels(model_dir: Path, rows: np.ndarray) -> list[int]:
    return joblib.load(model_dir / "model" / "model.joblib").predict(rows).tolist()


def invoke(
    server: RunningServer, body: bytes, content_type: str, accept: str | None = None
) -> requests.Response:
    headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
    return requests.post(f"{server.url}/invocations", data=body, headers=headers, timeout=10)


def test_csv_json_and_npy_predictions_are_correct(
    builtin_server: RunningServer, trained_model_dir: Path
) -> None:
    rows = ROWS[::10]
    expected = expected_labels(trained_model_dir, rows)
    assert len(set(expected)) == 3

    csv_body = "\n".join(",".join(map(str, row)) for row in rows).encode()
    response = invoke(builtin_server, csv_body, "text/csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv"
    assert [int(v) for v in response.text.split()] == expected

    response = invoke(builtin_server, json.dumps({"instances": rows.tolist()}).encode(), "application/json")
    assert (response.status_code, response.json()) == (200, expected)

    buffer = io.BytesIO()
    np.save(buffer, rows)
    response = invoke(builtin_server, buffer.getvalue(), "application/x-npy", accept="application/x-npy")
    assert response.headers["Content-Type"] == "application/x-npy"
    assert np.load(io.BytesIO(response.content), allow_pickle=False).tolist() == expected

    response = invoke(builtin_server, csv_body, "text/csv", accept="application/json")
    assert response.json() == expected


def test_bad_payloads_get_4xx_with_a_message(builtin_server: RunningServer) -> None:
    cases = [
        (b"5.1,3.5,x,0.2", "text/csv", 400, "CSV must hold numbers only"),
        (b"5.1,3.5,1.4", "text/csv", 400, "expecting 4 features"),
        (b'{"instances": [[5.1, 3.5', "application/json", 400, "not valid JSON"),
        (b"5.1,3.5,1.4,0.2", "text/plain", 415, "unsupported Content-Type"),
        (b"1," * 600_000, "text/csv", 413, "larger than 1048576 bytes"),
    ]
    for body, content_type, status, message in cases:
        response = invoke(builtin_server, body, content_type)
        assert (response.status_code, message in response.text) == (status, True), (
            content_type,
            response.text,
        )
    assert invoke(builtin_server, b"5.1,3.5,1.4,0.2", "text/csv", accept="text/html").status_code == 406


def test_a_concurrent_burst_is_answered_correctly(
    builtin_server: RunningServer, trained_model_dir: Path
) -> None:
    expected = expected_labels(trained_model_dir, ROWS)
    bodies = [",".join(map(str, row)).encode() for row in ROWS]

    def one(index: int) -> tuple[int, str]:
        with requests.Session() as session:
            response = session.post(
                f"{builtin_server.url}/invocations", data=bodies[index], headers={"Content-Type": "text/csv"}
            )
            return response.status_code, response.text.strip()

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(one, range(len(bodies))))
    assert answers == [(200, str(label)) for label in expected]


def test_sigterm_stops_the_server_and_its_workers(installed: Installed, trained_model_dir: Path) -> None:
    server = start_builtin_server(installed, trained_model_dir)
    assert server.stop() == 0
    try:
        requests.get(f"{server.url}/ping", timeout=1)
    except requests.ConnectionError:
        return
    raise AssertionError("a worker still answers after SIGTERM")


def worker_pids(server: RunningServer) -> set[int]:
    listed = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True)
    return {int(pid) for pid in listed.stdout.split()}


def test_a_dead_worker_is_replaced(installed: Installed, trained_model_dir: Path) -> None:
    server = start_builtin_server(installed, trained_model_dir)
    try:
        workers = worker_pids(server)
        assert len(workers) == 2
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            current = worker_pids(server)
            if len(current) == 2 and victim not in current:
                break
            time.sleep(0.1)
        assert len(current) == 2 and victim not in current
        for _ in range(10):
            assert invoke(server, b"5.1,3.5,1.4,0.2", "text/csv").text == "0\n"
    finally:
        assert server.stop() == 0


def test_seed_style_package_serves_with_its_own_server(installed: Installed, tmp_path: Path) -> None:
    from .conftest import make_opt_ml

    base = make_opt_ml(tmp_path / "ml")
    train_env = installed.environment(base, "iris_seed")
    subprocess.run([installed.executable("train")], env=train_env, check=True, capture_output=True)
    port = free_port()
    env = installed.environment(base, "iris_seed", SAGEMAKER_BIND_TO_PORT=str(port))
    server = start_server([installed.executable("serve")], env, port)
    try:
        response = invoke(server, b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3", "text/csv")
        assert (response.status_code, response.text) == (200, "0\n2\n")
    finally:
        server.stop()


def test_serve_without_entry_points_exits_with_the_snippet(installed: Installed, tmp_path: Path) -> None:
    result = subprocess.run(
        [installed.executable("serve")],
        env=installed.environment(tmp_path, SAGEMAKER_BIND_TO_PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert 'model_fn = "your_package.serving:model_fn"' in result.stderr


def test_serve_exits_non_zero_when_model_fn_fails(installed: Installed, tmp_path: Path) -> None:
    result = subprocess.run(
        [installed.executable("serve")],
        env=installed.environment(tmp_path, "iris_failing", SAGEMAKER_BIND_TO_PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "FileNotFoundError: iris_failing never produces a model" in result.stderr


def test_examples_readme_documents_the_metric_regex() -> None:
    assert "validation:accuracy=([0-9.]+)" in (EXAMPLES / "README.md").read_text()
