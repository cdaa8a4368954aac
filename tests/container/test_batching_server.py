"""`serve` with micro-batching on, over real HTTP: a concurrent burst, each request its own answer."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from smp_runtime.serving.batching import TOTALS_PREFIX

from .conftest import Installed, free_port, install_local, make_opt_ml, start_builtin_server, start_server
from .test_serve_executable import ROWS, expected_labels


def test_a_concurrent_burst_with_batching_on_gets_every_answer_right(
    installed: Installed, trained_model_dir: Path
) -> None:
    server = start_builtin_server(installed, trained_model_dir, MODEL_SERVER_MAX_BATCH_SIZE="8")
    expected = expected_labels(trained_model_dir, ROWS)
    accepts = ["text/csv", "application/json", "application/x-npy"]

    def one(index: int) -> tuple[int, list[int]]:
        rows = ROWS[index : index + 1 + index % 3]  # 1 to 3 rows
        body = "\n".join(",".join(map(str, row)) for row in rows).encode()
        accept = accepts[index % 3]
        response = requests.post(
            f"{server.url}/invocations", data=body, headers={"Content-Type": "text/csv", "Accept": accept}
        )
        if accept == "application/json":
            return response.status_code, response.json()
        if accept == "application/x-npy":
            return response.status_code, np.load(io.BytesIO(response.content), allow_pickle=False).tolist()
        return response.status_code, [int(v) for v in response.text.split()]

    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(one, range(len(ROWS))))
        malformed = requests.post(
            f"{server.url}/invocations", data=b"5.1,x", headers={"Content-Type": "text/csv"}
        )
    finally:
        assert server.stop() == 0
    assert answers == [(200, expected[i : i + 1 + i % 3]) for i in range(len(ROWS))]
    assert malformed.status_code == 400
    output = server.process.stdout.read() if server.process.stdout else ""
    assert "micro-batching up to 8 requests, adaptive (from MODEL_SERVER_MAX_BATCH_SIZE)" in output
    totals = [
        json.loads(line.split(TOTALS_PREFIX, 1)[1]) for line in output.splitlines() if TOTALS_PREFIX in line
    ]
    assert 1 <= len(totals) <= 2  # one line per worker that predicted
    assert sum(t["requests"] for t in totals) == len(ROWS)
    assert sum(t["rows"] for t in totals) == sum(len(ROWS[i : i + 1 + i % 3]) for i in range(len(ROWS)))
    assert all(1 <= t["max"] <= 8 for t in totals)


PACKAGE = {
    "pyproject.toml": """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "batchy"
version = "1.0"

[project.entry-points."batchy.training"]
train = "batchy:train"

[project.entry-points."batchy.hosting"]
model_fn = "batchy:model_fn"
predict_fn = "batchy:predict_fn"

[tool.sagemaker-pipeline]
max-batch-size = 4
""",
    "batchy/__init__.py": """
def train():
    pass

def model_fn(model_dir):
    return None

def predict_fn(data, model):
    return data[:, 0] * 2
""",
}


def test_the_package_table_survives_the_build_into_an_image_without_sources(
    installed: Installed, tmp_path: Path
) -> None:
    """What the Dockerfile does: pip install ./package, smp-check --for build, then only the venv is kept."""
    source = tmp_path / "package"
    for name, text in PACKAGE.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    if install_local._can_build_in_place(sys.executable):
        pip.append("--no-build-isolation")  # as install_local does: no fresh setuptools per build
    subprocess.run([*pip, "--target", str(site), str(source)], check=True, capture_output=True)
    base = make_opt_ml(tmp_path / "ml")
    port = free_port()
    env = installed.environment(base, SAGEMAKER_BIND_TO_PORT=str(port), MODEL_SERVER_WORKERS="2")
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    env.pop("MODEL_SERVER_MAX_BATCH_SIZE", None)
    env.pop("MODEL_SERVER_MAX_BATCH_DELAY_MS", None)
    check = subprocess.run(
        [installed.executable("smp-check"), "--for", "build"], env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    assert "[tool.sagemaker-pipeline] of" in check.stdout and "recorded in" in check.stdout
    shutil.rmtree(source)

    server = start_server([installed.executable("serve")], env, port)
    try:
        response = requests.post(
            f"{server.url}/invocations", data=b"1,0\n2,0", headers={"Content-Type": "text/csv"}
        )
    finally:
        assert server.stop() == 0
    assert (response.status_code, response.text) == (200, "2.0\n4.0\n")
    output = server.process.stdout.read() if server.process.stdout else ""
    assert "micro-batching up to 4 requests, adaptive (from sagemaker_pipeline.json of batchy)" in output
