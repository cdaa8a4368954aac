"""The local-mode commands on a world a `run --keep` left running: its state file, and status, runs,
rollback and delete, which attach to it (or say there is none)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localmode.pipeline.build import local_container_images, remove_container_image
from localmode.run.report import runs_report
from localmode.run.session import LocalPipeline
from localmode.run.settings import LocalSettings
from scripts import rollback, run_history


def state_path(settings: LocalSettings) -> Path:
    return settings.workdir / "state.json"


def write_state(pipeline: LocalPipeline) -> None:
    assert pipeline.moto is not None and pipeline.emulator is not None
    state = {
        "pid": os.getpid(),
        "stack_name": pipeline.settings.stack_name,
        "region": pipeline.settings.region,
        "moto_url": pipeline.moto.url,
        "emulator_url": pipeline.emulator.url,
        "moto_pid": getattr(pipeline.moto, "pid", None),
        "run_dir": str(pipeline.settings.own_dir),
        "outputs": pipeline.outputs,
    }
    state_path(pipeline.settings).write_text(json.dumps(state, indent=2))


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(settings: LocalSettings) -> dict[str, Any] | None:
    path = state_path(settings)
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
        pid = int(state["pid"])
    except (ValueError, KeyError, TypeError, OSError):
        return None  # a state file cut short (its owner killed mid-write): no world to attach to
    return state if process_alive(pid) else None


def attach_kept_world(
    settings: LocalSettings, write: Callable[[str], None]
) -> tuple[LocalPipeline, dict[str, Any]] | None:
    """The world a `run --keep` left running, attached, with its state; None (said) when there is none."""
    state = read_state(settings)
    if state is None:
        write("No local deployment is running. Start one with: ./launch-cicd-pipeline.sh --local run --keep")
        return None
    pipeline = LocalPipeline(settings, write)
    pipeline.attach(state)
    return pipeline, state


def command_status(settings: LocalSettings, write: Callable[[str], None]) -> int:
    attached = attach_kept_world(settings, write)
    if attached is None:
        return 1
    pipeline, state = attached
    stack = pipeline.client("cloudformation").describe_stacks(StackName=state["stack_name"])["Stacks"][0]
    write(
        f"Stack {stack['StackName']}: {stack['StackStatus']} (moto {state['moto_url']}, pid {state['pid']})"
    )
    sagemaker = pipeline.client("sagemaker", state["emulator_url"])
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=state["outputs"]["EndpointName"])
        write(
            f"Endpoint {endpoint['EndpointName']}: {endpoint['EndpointStatus']} "
            f"({endpoint['EndpointConfigName']})"
        )
    except sagemaker.exceptions.ClientError:
        write(f"Endpoint {state['outputs']['EndpointName']}: not created yet")
    write(runs_report(pipeline.runs()))
    return 0


def command_runs(
    settings: LocalSettings, last: int | None, as_json: bool, write: Callable[[str], None]
) -> int:
    """The run history of the world a `run --keep` left running (scripts/run_history.py)."""
    attached = attach_kept_world(settings, write)
    if attached is None:
        return 1
    pipeline, _state = attached
    write(run_history.render(pipeline.runs(), last, as_json))
    return 0


def command_rollback(settings: LocalSettings, to: str, write: Callable[[str], None]) -> int:
    """`rollback` on the world a `run --keep` left running (scripts/rollback.py)."""
    attached = attach_kept_world(settings, write)
    if attached is None:
        return 1
    pipeline, state = attached
    table = pipeline.table()
    try:
        world = rollback.World(
            sagemaker=pipeline.client("sagemaker", state["emulator_url"]),
            table=table,
            s3=pipeline.client("s3"),
            ecr=pipeline.client("ecr"),
            sns=pipeline.client("sns"),
            pricing=pipeline.client("pricing", state["emulator_url"]),
            region=settings.region,
            settings=rollback.settings_from_function(
                rollback.deploy_function_environment(pipeline.client("lambda"), state["stack_name"])
            ),
            pipeline_busy=lambda: rollback.runs_in_progress(table),
            wait_seconds=300,
            sleep=lambda seconds: time.sleep(min(seconds, 0.5)),
        )
        rollback.rollback(world, to, write, rollback.Log("rollback"))
    except rollback.RollbackRefused as refused:
        write(f"error: rollback refused: {refused}")
        return 1
    return 0


def command_delete(settings: LocalSettings, purge: bool, write: Callable[[str], None]) -> int:
    state = read_state(settings)
    if state is None:
        write("No local deployment is running: nothing to delete (its moto state ended with it).")
        if purge:
            shutil.rmtree(settings.workdir, ignore_errors=True)
            write(f"Removed {settings.workdir}")
            for tag in local_container_images(f"{settings.stack_name}-local"):
                remove_container_image(tag)
                write(f"Removed the local image {tag}")
        return 0
    pipeline = LocalPipeline(settings, write)
    pipeline.attach(state)
    for line in pipeline.delete(purge, emulator_url=state["emulator_url"]):
        write(f"  {line}")
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 30
    while process_alive(state["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    write(f"Stopped the local deployment (pid {state['pid']}): moto, the emulator and every model server")
    return 0
