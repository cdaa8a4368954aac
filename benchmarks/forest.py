"""The model-bound case: a 100-tree random forest, micro-batching off and on, vs the BYO stack.

A forest's predict call costs about the same for 1 row as for 32 (one pass over the trees, mostly
Python per tree), so at 16 concurrent 1-row clients the server is bound by predict calls, not by
HTTP. Micro-batching (MODEL_SERVER_MAX_BATCH_SIZE, issue 17) answers many requests per call. The
forest is trained on the example's bundled data by the image-like interpreter (no downloads) and
served by the example's model_fn from an /opt/ml tree of its own; BYO loads the same file.
"""

import json
import subprocess
from dataclasses import replace
from pathlib import Path

from benchmarks import report, servers, serving
from benchmarks.budget import Budget
from benchmarks.model import ARTIFACT_NAME, TRAINING_CSV, PreparedModel

TREES = 100
MAX_BATCH_SIZE = 32
PAYLOAD = "csv-1"
OFF = "forest-ours"
BYO = "forest-byo"
# The line each worker of the built-in server logs when it stops, as smp_runtime.serving.batching
# writes it (tests/bench checks that both spell it alike).
TOTALS_PREFIX = "batching totals: "

_TRAIN = """
import sys
import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier

data = np.loadtxt(sys.argv[1], delimiter=",")
model = RandomForestClassifier(n_estimators=int(sys.argv[3]), random_state=0).fit(data[:, 1:], data[:, 0])
joblib.dump(model, sys.argv[2])
"""


def batched_key(delay_ms: float) -> str:
    return "forest-batched" if delay_ms == 0 else f"forest-batched-{delay_ms:g}ms"


def train(python: Path, base_dir: Path) -> Path:
    """The forest artifact in `base_dir`/model, an /opt/ml tree of its own."""
    artifact = base_dir / "model" / ARTIFACT_NAME
    artifact.parent.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [str(python), "-c", _TRAIN, str(TRAINING_CSV), str(artifact), str(TREES)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"training the forest failed: {completed.stderr[-2000:]}")
    return artifact


def _ours(key: str, label: str, model: PreparedModel, base_dir: Path, workers: int, batching: dict[str, str]):
    environment = {"SAGEMAKER_BASE_DIR": str(base_dir), **batching}
    return serving.Contender(key, label, lambda port: servers.ours(model.bin_dir, environment, port, workers))


def contenders(
    model: PreparedModel, base_dir: Path, byo_run_dir: Path, workers: int, delays_ms: tuple[float, ...]
) -> list[serving.Contender]:
    artifact = base_dir / "model" / ARTIFACT_NAME
    off = {"MODEL_SERVER_MAX_BATCH_SIZE": "0"}
    return [
        _ours(OFF, "built-in server, batching off", model, base_dir, workers, off),
        *(
            _ours(
                batched_key(delay),
                f"built-in server, batching {MAX_BATCH_SIZE}, "
                + ("adaptive" if delay == 0 else f"max delay {delay:g} ms"),
                model,
                base_dir,
                workers,
                {
                    "MODEL_SERVER_MAX_BATCH_SIZE": str(MAX_BATCH_SIZE),
                    "MODEL_SERVER_MAX_BATCH_DELAY_MS": f"{delay:g}",
                },
            )
            for delay in delays_ms
        ),
        serving.Contender(
            BYO,
            "BYO nginx+gunicorn+flask",
            lambda port: servers.byo(artifact, byo_run_dir, port, workers),
            serving.BYO_PAYLOADS,
        ),
    ]


def batch_totals(log_path: Path) -> dict | None:
    """The workers' batching totals in a server log, summed; None when it holds none."""
    found = []
    if log_path.exists():
        for line in log_path.read_text(errors="replace").splitlines():
            if TOTALS_PREFIX in line:
                found.append(json.loads(line.split(TOTALS_PREFIX, 1)[1]))
    if not found:
        return None
    sizes: dict[str, int] = {}
    for totals in found:
        for size, count in totals["sizes"].items():
            sizes[size] = sizes.get(size, 0) + count
    return {
        "workers": len(found),
        "batches": sum(t["batches"] for t in found),
        "requests": sum(t["requests"] for t in found),
        "rows": sum(t["rows"] for t in found),
        "retried": sum(t["retried"] for t in found),
        "max": max(t["max"] for t in found),
        "sizes": dict(sorted(sizes.items(), key=lambda item: int(item[0]))),
    }


def measure(
    model: PreparedModel,
    payloads: list,
    scripts: dict[str, Path],
    budget: Budget,
    work_dir: Path,
    byo_run_dir: Path,
    workers: int,
    log_dir: Path,
    progress,
) -> dict:
    """Trains the forest, serves it with every contender side by side; cells, labels and batch sizes."""
    base_dir = work_dir / "opt-ml-forest"
    train(model.bin_dir / "python", base_dir)
    payload = next(p for p in payloads if p.key == PAYLOAD)
    here = contenders(model, base_dir, byo_run_dir, workers, budget.forest_delays_ms)
    cells = serving.measure_matrix(
        here,
        [payload],
        scripts,
        replace(
            budget,
            concurrencies=(budget.forest_concurrency,),
            duration_s=budget.forest_duration_s or budget.duration_s,
        ),
        log_dir,
        progress,
    )
    batches = {
        c.key: batch_totals(log_dir / f"{c.key}.log") for c in here if c.key.startswith("forest-batched")
    }
    return {
        "model": f"scikit-learn RandomForestClassifier({TREES} trees) on {TRAINING_CSV.name}",
        "payload": PAYLOAD,
        "concurrency": budget.forest_concurrency,
        "duration_s": budget.forest_duration_s or budget.duration_s,
        "max_batch_size": MAX_BATCH_SIZE,
        "servers": {c.key: c.label for c in here},
        "cells": [report.cell_record(cell) for cell in cells],
        "batches": batches,
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.forest [--budget tiny]`: only this case, printed (no report written)."""
    import argparse
    import shutil
    import tempfile

    from benchmarks import envs
    from benchmarks.budget import budget_named
    from benchmarks.loadgen import write_script
    from benchmarks.model import prepare
    from benchmarks.payloads import build_payloads

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--budget", help="full (default, or $BENCH_BUDGET) or tiny")
    budget = budget_named(parser.parse_args(argv).budget)
    envs.byo_python()
    with tempfile.TemporaryDirectory(prefix="bench-forest-") as scratch:
        work_dir = Path(scratch)
        model = prepare(work_dir)
        payloads = build_payloads(model.feature_rows, (PAYLOAD,))
        scripts = {payload.key: write_script(payload, work_dir) for payload in payloads}
        log_dir = work_dir / "logs"
        log_dir.mkdir()
        byo_run_dir = Path(tempfile.mkdtemp(prefix="bench-byo-"))  # nginx workers must reach it (run.py)
        try:
            workers = servers.cpu_count()
            results = measure(
                model, payloads, scripts, budget, work_dir, byo_run_dir, workers, log_dir, print
            )
        finally:
            shutil.rmtree(byo_run_dir, ignore_errors=True)
    print(json.dumps(results["batches"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
