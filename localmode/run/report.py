"""Plain-text tables for the end of the demo: run records, emails, predictions, stack outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(value) for value in row] for row in rows]
    widths = [max([len(header)] + [len(row[index]) for row in cells]) for index, header in enumerate(headers)]
    lines = ["  ".join(header.ljust(width) for header, width in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines += [
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)) for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def short(value: Any, length: int = 8) -> str:
    text = "" if value is None else str(value)
    return text[:length]


def run_rows(runs: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for run in runs:
        data = ", ".join(
            f"{key}@{short(version)}" for key, version in sorted(run.get("data_objects", {}).items())
        )
        metrics = ", ".join(f"{name}={value}" for name, value in sorted(run.get("final_metrics", {}).items()))
        rows.append(
            [
                short(run["run_id"]),
                run.get("trigger", ""),
                short(run.get("git_commit"), 10),
                data or "-",
                run.get("status", ""),
                metrics or "-",
                run.get("deploy_status", "-"),
                run.get("endpoint_config_name", "-"),
            ]
        )
    return rows


RUN_HEADERS = (
    "run",
    "trigger",
    "git sha",
    "data versions",
    "status",
    "final metrics",
    "deploy",
    "endpoint config",
)


def runs_table(runs: list[dict[str, Any]]) -> str:
    return table(RUN_HEADERS, run_rows(runs))


def runs_report(runs: list[dict[str, Any]]) -> str:
    """The run records table, then why each failed run failed."""
    failures = failures_text(runs)
    if not failures:
        return runs_table(runs)
    return f"{runs_table(runs)}\n\nWhy runs failed (failure_reason in the run record)\n{failures}"


def failures_text(runs: list[dict[str, Any]]) -> str:
    """Each failed run's recorded reason, whole: its headline and the lines that explain it."""
    blocks = []
    for run in runs:
        reason = str(run.get("failure_reason", "") or "")
        if run.get("status") in ("Failed", "Stopped") and reason:
            blocks.append(f"  {short(run['run_id'])}:")
            blocks += [f"    {line}" for line in reason.splitlines()]
    return "\n".join(blocks)


def reason_block(message: str) -> list[str]:
    """The email's "Failure reason:" line and its indented continuation lines."""
    lines = message.splitlines()
    for start, line in enumerate(lines):
        if line.startswith("Failure reason:"):
            end = start + 1
            while end < len(lines) and lines[end].startswith(" ") and lines[end].strip():
                end += 1
            return lines[start:end]
    return []


# What an outcome email says about the model beyond its first lines (common.notify.success_lines).
LIFECYCLE_PREFIXES = ("Model version:", "Training cost:", "Endpoint:")


def lifecycle_lines(message: str) -> list[str]:
    return [line for line in message.splitlines() if line.startswith(LIFECYCLE_PREFIXES)]


def emails_text(emails: list[dict[str, str]], email: str, lines: int = 4) -> str:
    blocks = []
    for index, mail in enumerate(emails, 1):
        body = [line for line in mail["message"].splitlines() if line.strip()][:lines]
        blocks.append(f"  {index}. To: {email}  Subject: {mail['subject']}")
        extra = reason_block(mail["message"]) + lifecycle_lines(mail["message"])
        blocks += [f"       {line}" for line in body + extra]
    return "\n".join(blocks) if blocks else "  (none)"


def outputs_table(outputs: dict[str, str]) -> str:
    return table(("output", "value"), sorted(outputs.items()))
