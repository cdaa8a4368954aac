"""`launch-cicd-pipeline.sh runs [--last N] [--json]`: the run history from the stack's run table, as a
table (run id, trigger, git sha, status, metric, model version, duration, cost, deployed) or as JSON.

The launch script passes the table name (the stack's MetaDataStore output) and the region; local mode
calls ``render`` with the kept world's run items. Newest first. A value the run does not carry is "-";
a cost the Price List could not give is "unknown", never guessed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import boto3

HEADERS = (
    "run id",
    "trigger",
    "git sha",
    "status",
    "metric",
    "model version",
    "duration",
    "cost",
    "deployed",
)
DEPLOYED = ("InService",)


def _time(text: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def duration_seconds(item: Mapping[str, Any]) -> int | None:
    started, ended = _time(item.get("started_at")), _time(item.get("ended_at"))
    if started is None or ended is None or ended < started:
        return None
    return int((ended - started).total_seconds())


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def record(item: Mapping[str, Any]) -> dict[str, Any]:
    """One run as the history shows it (JSON-ready)."""
    cost = item.get("cost") or {}
    metrics = _plain(item.get("final_metrics") or {})
    return {
        "run_id": str(item.get("run_id", "")),
        "trigger": str(item.get("trigger", "")),
        "git_sha": str(item.get("git_commit", "")),
        "status": str(item.get("status", "")),
        "metrics": metrics,
        "model_version": _plain(item.get("model_version")),
        "model_approval_status": item.get("model_approval_status"),
        "model_package_arn": item.get("model_package_arn"),
        "duration_seconds": duration_seconds(item),
        "training_cost_usd": _plain(cost.get("training_usd", "unknown")),
        "endpoint_usd_per_hour": _plain(cost.get("endpoint_usd_per_hour", "unknown")),
        "deploy_status": item.get("deploy_status"),
        "deployed": item.get("deploy_status") in DEPLOYED,
        "started_at": item.get("started_at"),
    }


def newest_first(items: Sequence[Mapping[str, Any]], last: int | None) -> list[dict[str, Any]]:
    runs = [record(item) for item in items if not str(item.get("run_id", "#")).startswith("#")]
    runs.sort(key=lambda run: str(run["started_at"] or ""), reverse=True)
    return runs[:last] if last else runs


def _cell(value: Any) -> str:
    return "-" if value in (None, "", {}) else str(value)


def row(run: Mapping[str, Any]) -> list[str]:
    metric = ", ".join(f"{name}={value}" for name, value in sorted(run["metrics"].items()))
    version = run["model_version"]
    if version is not None and run["model_approval_status"]:
        version = f"{version} ({run['model_approval_status']})"
    cost = run["training_cost_usd"]
    duration = run["duration_seconds"]
    return [
        _cell(run["run_id"]),
        _cell(run["trigger"]),
        _cell(run["git_sha"][:10]),
        _cell(run["status"]),
        _cell(metric),
        _cell(version),
        "-" if duration is None else f"{duration} s",
        cost if cost == "unknown" else f"{cost} USD",
        "yes" if run["deployed"] else f"no ({run['deploy_status']})" if run["deploy_status"] else "no",
    ]


def table(runs: Sequence[Mapping[str, Any]]) -> str:
    cells = [list(HEADERS)] + [row(run) for run in runs]
    widths = [max(len(line[index]) for line in cells) for index in range(len(HEADERS))]
    lines = [
        "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def render(items: Sequence[Mapping[str, Any]], last: int | None = None, as_json: bool = False) -> str:
    runs = newest_first(items, last)
    if as_json:
        return json.dumps(runs, indent=2, default=str)
    return table(runs) if runs else "No runs recorded yet."


def scan(table_resource: Any) -> list[dict[str, Any]]:
    """Every item of the run table (all pages)."""
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {}
    while True:
        page = table_resource.scan(**request)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def positive(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"--last takes a whole number of runs, at least 1 (e.g. --last 5), not {text!r}"
        )
    return value


def parser(prog: str = "launch-cicd-pipeline.sh runs") -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(prog=prog, description="The run history of the stack's pipeline.")
    found.add_argument("--last", type=positive, help="only the newest N runs")
    found.add_argument("--json", action="store_true", help="JSON instead of a table")
    return found


def main(argv: list[str] | None = None) -> int:
    arguments_parser = parser()
    arguments_parser.add_argument("--table", required=True, help="the stack's MetaDataStore table")
    arguments_parser.add_argument("--region", required=True)
    arguments = arguments_parser.parse_args(argv)
    resource = boto3.resource("dynamodb", region_name=arguments.region)
    print(render(scan(resource.Table(arguments.table)), arguments.last, arguments.json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
