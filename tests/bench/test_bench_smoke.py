"""`make bench` on a tiny budget: the whole harness still produces numbers, tables and plots."""

import json
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.bench


def _missing_tools() -> list[str]:
    return [
        tool for tool in ("wrk", "nginx") if not (shutil.which(tool) or shutil.which(f"/usr/sbin/{tool}"))
    ]


def _missing_environments() -> list[str]:
    from benchmarks import envs

    return [] if (envs.BYO_VENV / "bin" / "python").exists() else [str(envs.BYO_VENV)]


def test_tiny_bench_writes_a_report_with_numbers_for_every_server(repo_root, tmp_path):
    missing = _missing_tools() + _missing_environments()
    if missing:
        pytest.skip(f"bench needs {', '.join(missing)}: run `make system-deps` as root and `make venv`")
    output = tmp_path / "benchmarks.md"
    results_path = tmp_path / "results.json"
    completed = subprocess.run(
        [
            sys.executable, "-m", "benchmarks.run", "--budget", "tiny",
            "--output", str(output), "--img-dir", str(tmp_path / "img"), "--results", str(results_path),
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]

    results = json.loads(results_path.read_text())
    served = {record["server"]: record for record in results["serving"]}
    assert set(served) == {"ours", "byo", "ceiling-uvicorn", "ceiling"}
    assert served["ceiling"]["via"] == "ceiling-uvicorn"
    for record in served.values():
        assert record["payload"] == "csv-1"
        assert record["concurrency"] == 8
        assert record["runs"][0]["requests"] > 0
        assert record["errors"] == 0
    forest = {record["server"]: record for record in results["forest"]["cells"]}
    assert set(forest) == {"forest-ours", "forest-batched", "forest-byo"}
    assert all(record["concurrency"] == 16 and record["errors"] == 0 for record in forest.values())
    assert results["forest"]["batches"]["forest-batched"]["requests"] > 0
    assert set(results["cold_start_s"]) == {"ours", "byo"}
    assert all(len(runs) == 1 for runs in results["cold_start_s"].values())
    assert {handler["module"] for handler in results["lambdas"]["handlers"]} >= {
        "train_trigger",
        "job_events",
    }

    report = output.read_text()
    assert "| concurrency | server | requests/s | runs min-max | p50 ms | p99 ms | errors |" in report
    assert "## Targets" in report
    assert "## Model-bound serving: a 100-tree forest, micro-batching off and on" in report
    assert (tmp_path / "img" / "bench-throughput.png").stat().st_size > 0
    assert "img/bench-throughput.png" in report
    assert (tmp_path / "img" / "bench-forest.png").stat().st_size > 0
