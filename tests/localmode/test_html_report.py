"""The local run's HTML report: one self-contained page (inline SVG, nothing fetched) of the run history."""

from __future__ import annotations

import re

from localmode.run import html_report

RUNS = [
    {
        "run_id": "11111111-aaaa",
        "trigger": "push",
        "status": "Completed",
        "started_at": "2026-12-01T10:00:00Z",
        "ended_at": "2026-12-01T10:00:04Z",
        "billable_seconds": 4,
        "final_metrics": {"validation:accuracy": 0.93},
    },
    {"run_id": "22222222-bbbb", "trigger": "data", "status": "Failed", "final_metrics": {}},
]
STAGES = {
    "11111111-aaaa": {"Source": 0.1, "Build": 3.9, "Train": 3.4, "Deploy": 3.1},
    "22222222-bbbb": {"Source": 0.1},
}


def page() -> str:
    views = html_report.run_views(RUNS, STAGES)
    return html_report.render(
        "local run <demo>",
        views,
        {"Invocations (sum)": 12.0, "ModelLatency (average)": 850.0},
        {"DriftViolations": 1.0},
    )


def test_run_views_read_the_run_records_and_stage_times():
    first, second = html_report.run_views(RUNS, STAGES)
    assert (first.training_seconds, first.billable_seconds, first.metrics) == (
        4.0,
        4.0,
        {"validation:accuracy": 0.93},
    )
    assert first.stage_seconds["Build"] == 3.9
    assert (second.training_seconds, second.status) == (None, "Failed")


def test_the_page_is_self_contained_with_plots_of_the_run_history():
    text = page()
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<svg") == 3  # training time, stage times, final metrics
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    assert "<script" not in text and "@import" not in text
    assert "local run &lt;demo&gt;" in text  # escaped
    assert "1 Completed, 1 Failed" in text
    assert "Push to InService, per stage" in text and "Build 1. push: 3.9 s" in text
    assert "DriftViolations" in text and "Invocations (sum)" in text


def test_without_a_drift_check_the_page_says_so():
    text = html_report.render("r", html_report.run_views(RUNS[:1], {}), {}, {})
    assert "No drift check ran" in text
