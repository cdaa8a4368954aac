"""`launch-cicd-pipeline.sh runs` (scripts/run_history.py): the run history as a table or JSON, newest
first, cost "unknown" when the price was unknown, from every page of the run table."""

from __future__ import annotations

import json
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

from scripts import run_history
from tests.stack_fixture import TABLE, create_run_table

ITEMS = [
    {
        "run_id": "run-1",
        "trigger": "push",
        "git_commit": "3f2a9c1d6e0b4f7a8c9d",
        "status": "Completed",
        "final_metrics": {"validation:accuracy": Decimal("0.93")},
        "model_version": Decimal("1"),
        "model_approval_status": "Approved",
        "started_at": "2026-12-01T10:00:00Z",
        "ended_at": "2026-12-01T10:05:00Z",
        "cost": {"training_usd": Decimal("0.0096"), "endpoint_usd_per_hour": Decimal("0.115")},
        "deploy_status": "InService",
    },
    {
        "run_id": "run-2",
        "trigger": "rollback",
        "status": "Completed",
        "started_at": "2026-12-01T11:00:00Z",
        "cost": {"training_usd": "unknown", "endpoint_usd_per_hour": "unknown"},
        "deploy_status": "GateFailed",
    },
    {"run_id": "#lock", "started_at": "2026-12-01T12:00:00Z"},  # not a run
]


def test_the_table_shows_every_column_newest_first():
    lines = run_history.render(ITEMS).splitlines()
    assert lines[0].split() == (
        "run id trigger git sha status metric model version duration cost deployed".split()
    )
    assert lines[2].startswith("run-2") and "unknown" in lines[2] and "no (GateFailed)" in lines[2]
    assert lines[3].split() == [
        "run-1", "push", "3f2a9c1d6e", "Completed", "validation:accuracy=0.93", "1", "(Approved)", "300", "s",
        "0.0096", "USD", "yes",
    ]  # fmt: skip
    assert len(lines) == 4


def test_json_and_last():
    [newest] = json.loads(run_history.render(ITEMS, last=1, as_json=True))
    assert newest["run_id"] == "run-2" and newest["trigger"] == "rollback"
    assert newest["training_cost_usd"] == "unknown" and newest["deployed"] is False
    older = json.loads(run_history.render(ITEMS, as_json=True))[1]
    assert older["training_cost_usd"] == 0.0096 and older["duration_seconds"] == 300
    assert older["metrics"] == {"validation:accuracy": 0.93}


def test_no_runs_says_so():
    assert run_history.render([]) == "No runs recorded yet."


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5"])
def test_last_takes_a_positive_whole_number(value, capsys):
    with pytest.raises(SystemExit) as exited:
        run_history.parser().parse_args(["--last", value])
    assert exited.value.code == 2
    assert "at least 1 (e.g. --last 5)" in capsys.readouterr().err


def test_main_reads_every_page_of_the_run_table(capsys):
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_run_table(client)
        table = boto3.resource("dynamodb", region_name="eu-west-1").Table(TABLE)
        for index in range(3):
            table.put_item(
                Item={
                    "run_id": f"r{index}",
                    "started_at": f"2026-12-01T0{index}:00:00Z",
                    "big": "x" * 400_000,
                }
            )
        assert run_history.main(["--table", TABLE, "--region", "eu-west-1", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [run["run_id"] for run in runs] == ["r2", "r1", "r0"]


def test_the_launch_script_takes_last_and_json_only_with_runs(launch):
    result = launch("status", "--json")
    assert result.returncode == 2
    assert "--last and --json only go with runs" in result.stderr
    assert "runs [--last N] [--json]" in launch("--help").stdout


def test_local_runs_without_a_kept_world_says_how_to_start_one(tmp_path, capsys, monkeypatch):
    from localmode.run import cli

    empty = tmp_path / "empty.env"
    empty.write_text("")
    monkeypatch.setenv("SMP_ENV_FILE", str(empty))
    assert cli.main(["runs", "--last", "2", "--workdir", str(tmp_path / "work")], environ={}) == 1
    assert "--local run --keep" in capsys.readouterr().out
