"""The end-of-run report: a failed run's recorded reason and its email's reason, shown whole."""

from __future__ import annotations

from localmode.run.report import emails_text, runs_report

REASON = (
    "AlgorithmError: RuntimeError: no rows in training.csv\n… 3 lines omitted …\n"
    "  train.py:9 in main\n    raise RuntimeError"
)
EMAIL = (
    "Training job j failed.\n\nStack:          s\nRun id:         r\nTrigger:        push (none)\n"
    "Git commit:     abc\n\n"
    f"Failure reason: {REASON.splitlines()[0]}\n"
    + "".join(f"                {line}\n" for line in REASON.splitlines()[1:])
    + "\nFinal metrics:  none reported\n"
)


def test_the_run_summary_shows_each_failed_runs_reason_with_its_explaining_lines():
    runs = [
        {"run_id": "aaaaaaaa-1", "status": "Failed", "failure_reason": REASON},
        {"run_id": "bbbbbbbb-2", "status": "Completed"},
    ]
    text = runs_report(runs)
    assert "Why runs failed (failure_reason in the run record)\n  aaaaaaaa:\n" in text
    assert "\n    AlgorithmError: RuntimeError: no rows in training.csv\n" in text
    assert text.endswith("\n      train.py:9 in main\n        raise RuntimeError")
    assert "bbbbbbbb:" not in text


def test_a_report_without_failures_is_the_table_alone():
    assert "Why runs failed" not in runs_report([{"run_id": "c", "status": "Completed"}])


def test_the_printed_email_includes_its_failure_reason_block():
    text = emails_text([{"subject": "[s] Training Failed: j", "message": EMAIL}], "you@example.com")
    assert "       Failure reason: AlgorithmError: RuntimeError: no rows in training.csv" in text
    assert text.endswith("                           raise RuntimeError")
    assert "Final metrics" not in text
