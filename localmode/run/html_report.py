"""One self-contained HTML page per local run: the dashboard's view of the run history, with plots.

Inline SVG and inline CSS only (no script, no font, no image file, nothing fetched), so the page
opens anywhere, offline, and can be mailed or archived as it is. It shows what the stack's
CloudWatch dashboard shows on AWS: the runs and their outcomes, training time, the stages' times
(push to InService), and the endpoint's invocations, latency, errors, CPU and memory, and drift.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

WIDTH, HEIGHT, PAD = 520, 200, 36
COLOURS = ("#2f6db5", "#d9822b", "#3d9a50", "#c23b3b", "#7d5ba6")


@dataclass
class RunView:
    """What the page shows of one pipeline execution."""

    run_id: str
    trigger: str
    status: str
    training_seconds: float | None
    billable_seconds: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)


def _escape(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def bar_chart(
    title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], unit: str
) -> str:
    """Grouped (or stacked, one series) bars of `series` per label, as an inline SVG."""
    values = [value for points in series.values() for value in points if value is not None]
    top = max(values, default=0.0) or 1.0
    slot = (WIDTH - 2 * PAD) / max(len(labels), 1)
    bar = slot * 0.8 / max(len(series), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT + 40}" role="img" '
        f'aria-label="{_escape(title)}">',
        f'<text x="{PAD}" y="16" font-size="13" font-weight="bold">{_escape(title)}</text>',
        f'<line x1="{PAD}" y1="{HEIGHT}" x2="{WIDTH - PAD}" y2="{HEIGHT}" stroke="#888"/>',
        f'<text x="2" y="{PAD}" font-size="10">{top:.3g} {_escape(unit)}</text>',
    ]
    for index, label in enumerate(labels):
        for number, (name, points) in enumerate(series.items()):
            value = points[index] if index < len(points) else None
            if value is None:
                continue
            height = (HEIGHT - PAD) * value / top
            x = PAD + index * slot + slot * 0.1 + number * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{HEIGHT - height:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{COLOURS[number % len(COLOURS)]}"><title>{_escape(name)} {_escape(label)}: '
                f"{value:.4g} {_escape(unit)}</title></rect>"
            )
        parts.append(
            f'<text x="{PAD + index * slot + slot / 2:.1f}" y="{HEIGHT + 14}" font-size="10" '
            f'text-anchor="middle">{_escape(label)}</text>'
        )
    for number, name in enumerate(series):
        parts.append(
            f'<text x="{PAD + number * 130}" y="{HEIGHT + 32}" font-size="10" '
            f'fill="{COLOURS[number % len(COLOURS)]}">&#9632; {_escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_escape(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(f"<td>{_escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(
    title: str,
    runs: Sequence[RunView],
    endpoint: Mapping[str, float],
    drift: Mapping[str, float],
) -> str:
    """The page; `endpoint` and `drift` map a metric name to its value over the run (sum or max)."""
    labels = [f"{index}. {run.trigger}" for index, run in enumerate(runs, 1)]
    stages = sorted({stage for run in runs for stage in run.stage_seconds}, key=_stage_order(runs))
    metric_names = sorted({name for run in runs for name in run.metrics})
    charts = [
        bar_chart(
            "Training time per run",
            labels,
            {
                "wall (s)": [run.training_seconds for run in runs],
                "billable (s)": [run.billable_seconds for run in runs],
            },
            "s",
        ),
        bar_chart(
            "Push to InService, per stage",
            labels,
            {stage: [run.stage_seconds.get(stage) for run in runs] for stage in stages},
            "s",
        ),
    ]
    if metric_names:
        charts.append(
            bar_chart(
                "Final metrics per run",
                labels,
                {name: [run.metrics.get(name) for run in runs] for name in metric_names},
                "",
            )
        )
    run_rows = [
        [
            run.run_id[:8],
            run.trigger,
            run.status,
            "-" if run.training_seconds is None else f"{run.training_seconds:.1f}",
            ", ".join(f"{name}={value:.4g}" for name, value in sorted(run.metrics.items())) or "-",
            f"{sum(run.stage_seconds.values()):.1f}" if run.stage_seconds else "-",
        ]
        for run in runs
    ]
    outcomes: dict[str, int] = {}
    for run in runs:
        outcomes[run.status] = outcomes.get(run.status, 0) + 1
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{_escape(title)}</title>",
            "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
            "text-align:left}svg{margin:0.5em 1em 0.5em 0;border:1px solid #eee}</style>",
            "</head><body>",
            f"<h1>{_escape(title)}</h1>",
            "<h2>Pipeline runs</h2>",
            f"<p>{_escape(', '.join(f'{count} {status}' for status, count in sorted(outcomes.items())))}</p>",
            _table(
                ("run", "trigger", "status", "training s", "final metrics", "push to InService s"), run_rows
            ),
            "<div>" + "".join(charts) + "</div>",
            "<h2>Endpoint</h2>",
            _table(
                ("metric", "over the run"),
                [[name, f"{value:.4g}"] for name, value in sorted(endpoint.items())],
            ),
            "<h2>Input drift</h2>",
            _table(("metric", "latest"), [[name, f"{value:.4g}"] for name, value in sorted(drift.items())])
            if drift
            else "<p>No drift check ran (DataCapturePercent is 0).</p>",
            "</body></html>",
        ]
    )


def _stage_order(runs: Sequence[RunView]) -> Any:
    order: dict[str, int] = {}
    for run in runs:
        for stage in run.stage_seconds:
            order.setdefault(stage, len(order))
    return lambda stage: order[stage]


def _seconds(started: Any, ended: Any) -> float | None:
    import datetime as dt

    try:
        start = dt.datetime.fromisoformat(str(started).replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(str(ended).replace("Z", "+00:00"))
    except ValueError:
        return None
    return max((end - start).total_seconds(), 0.0)


def run_views(
    runs: Sequence[Mapping[str, Any]], stage_seconds: Mapping[str, Mapping[str, float]]
) -> list[RunView]:
    """RunViews from the run records (DynamoDB items) and each execution's stage times."""
    views = []
    for run in runs:
        billable = run.get("billable_seconds")
        views.append(
            RunView(
                run_id=str(run["run_id"]),
                trigger=str(run.get("trigger", "")),
                status=str(run.get("status", "")),
                training_seconds=_seconds(run.get("started_at"), run.get("ended_at"))
                if run.get("started_at") and run.get("ended_at")
                else None,
                billable_seconds=float(billable) if isinstance(billable, int | float) else None,
                metrics={name: float(value) for name, value in run.get("final_metrics", {}).items()},
                stage_seconds=dict(stage_seconds.get(str(run["run_id"]), {})),
            )
        )
    return views
