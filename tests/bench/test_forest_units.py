"""The forest case's pure parts: its contenders, the workers' batching totals, its report section."""

import json
from pathlib import Path

from benchmarks import forest, report

RUNTIME_BATCHING = Path(__file__).resolve().parents[2] / "container/runtime/smp_runtime/serving/batching.py"


def test_the_bench_reads_the_totals_line_the_runtime_writes():
    assert f'TOTALS_PREFIX = "{forest.TOTALS_PREFIX}"' in RUNTIME_BATCHING.read_text()


def test_batch_totals_are_summed_over_the_workers(tmp_path):
    log = tmp_path / "forest-batched.log"
    worker = {
        "batches": 3,
        "requests": 10,
        "rows": 10,
        "retried": 0,
        "max": 6,
        "sizes": {"1": 1, "3": 1, "6": 1},
    }
    other = {"batches": 2, "requests": 4, "rows": 5, "retried": 1, "max": 2, "sizes": {"2": 2}}
    log.write_text(
        "2026-12-01 INFO smp_runtime.serving: serve: model loaded\n"
        + "".join(
            f"2026-12-01 INFO smp_runtime.serving: {forest.TOTALS_PREFIX}{json.dumps(t)}\n"
            for t in (worker, other)
        )
    )
    assert forest.batch_totals(log) == {
        "workers": 2,
        "batches": 5,
        "requests": 14,
        "rows": 15,
        "retried": 1,
        "max": 6,
        "sizes": {"1": 1, "2": 2, "3": 1, "6": 1},
    }
    assert forest.batch_totals(tmp_path / "missing.log") is None


def test_contenders_are_batching_off_on_per_delay_and_byo(tmp_path):
    model = type("Model", (), {"bin_dir": tmp_path})()
    keys = [c.key for c in forest.contenders(model, tmp_path, tmp_path, 2, (0.0, 2.0))]
    assert keys == ["forest-ours", "forest-batched", "forest-batched-2ms", "forest-byo"]


def _cell(server, rps, p99):
    return {
        "server": server,
        "requests_per_s": rps,
        "p50_ms": p99 / 2,
        "p99_ms": p99,
        "errors": 0,
        "runs": [],
    }


def test_the_report_shows_the_forest_with_batch_sizes_and_the_issue_targets(tmp_path):
    results = {
        "forest": {
            "model": "RandomForestClassifier(100 trees) on iris.csv",
            "payload": "csv-1",
            "concurrency": 16,
            "max_batch_size": 32,
            "servers": {"forest-ours": "batching off", "forest-batched": "batching 32", "forest-byo": "BYO"},
            "cells": [
                _cell("forest-ours", 60, 500.0),
                _cell("forest-batched", 600, 100.0),
                _cell("forest-byo", 50, 400.0),
            ],
            "batches": {
                "forest-batched": {
                    "batches": 100,
                    "requests": 800,
                    "rows": 800,
                    "retried": 0,
                    "max": 16,
                    "sizes": {},
                }
            },
        }
    }
    text = report.forest_section(results)
    assert "| batching 32 | 600 |  | 50.00 | 100.00 | 0 | 12.0x / 0.25x | 100 | 8.0 / 16 |" in text
    assert "| batching off | 60 |  | 250.00 | 500.00 | 0 | 1.2x / 1.25x |  |  |" in text
    assert "12.0x BYO's requests/s (target >= 5x: met), p99 0.25x BYO's (target <= 0.5x: met)" in text
    assert "batching off: p99 1.25x BYO's (target <= 1x: **missed**)" in text
    assert report.forest_section({}) == ""


def test_the_report_says_which_max_delay_served_most_and_which_kept_the_tail_shortest():
    cells = {
        "forest-batched": {**_cell("forest-batched", 700, 60.0), "p50_ms": 20.0},
        "forest-batched-2ms": {**_cell("forest-batched-2ms", 800, 50.0), "p50_ms": 18.0},
        "forest-batched-5ms": {**_cell("forest-batched-5ms", 750, 45.0), "p50_ms": 21.0},
    }
    batches = {"forest-batched": {"requests": 400, "batches": 100}}
    text = report.delay_tradeoff({"batches": batches}, cells)
    assert text.startswith(
        "**The max delay's trade-off.** 0 ms: 700 requests/s, p50 20.0 ms, p99 60.0 ms, 4.0 requests per "
        "predict call; 2 ms: 800 requests/s, p50 18.0 ms, p99 50.0 ms, n/a requests per predict call; 5 ms:"
    )
    assert "The most requests/s came with 2 ms, the lowest p99 with 5 ms." in text
    assert report.delay_tradeoff({}, {"forest-batched": cells["forest-batched"]}) == ""
