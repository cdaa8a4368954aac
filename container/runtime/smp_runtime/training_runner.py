"""The training runner behind `train`: runs the user's training entry point the way SageMaker expects.

Success writes output/success and returns 0. Any failure (missing entry point, bad config, an
exception in the user's code, SIGTERM) writes the reason to output/failure, useful line first
(SageMaker keeps its first 1024 characters as FailureReason), and returns non-zero.
"""

from __future__ import annotations

import inspect
import os
import signal
import sys
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

from smp_runtime.entry_points import FOR_TRAIN, TRAIN, EntryPointError, discover, require
from smp_runtime.paths import SageMakerPaths
from smp_runtime.training import TrainingEnvironment

EXIT_FAILURE = 1
EXIT_SIGTERM = 143


class TrainingStopped(BaseException):
    """SIGTERM arrived (SageMaker stops a job, or the spot instance goes away)."""


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise TrainingStopped(f"training stopped by signal {signum}")


def stop_on_sigterm() -> None:
    """From now on SIGTERM raises TrainingStopped, so that `run` records it in output/failure."""
    signal.signal(signal.SIGTERM, _raise_stopped)


def call_training_function(function: Callable[..., Any], environment: TrainingEnvironment) -> None:
    """Seed-style `entry_point()` takes nothing; `main(env)` gets the TrainingEnvironment."""
    required = [
        p
        for p in inspect.signature(function).parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if required:
        function(environment)
    else:
        function()


def failure_text(error: BaseException) -> str:
    if isinstance(error, EntryPointError):
        return str(error)
    headline = f"{type(error).__name__}: {error}".strip()
    trace = "".join(traceback.format_exception(error))
    return f"{headline}\n\n{trace}"


def _write(path: os.PathLike[str], text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def run(paths: SageMakerPaths) -> int:
    for stale in (paths.failure_file, paths.success_file):
        stale.unlink(missing_ok=True)
    try:
        points = require(discover(), FOR_TRAIN)
        environment = TrainingEnvironment.load(paths)
        paths.model_dir.mkdir(parents=True, exist_ok=True)
        paths.output_data_dir.mkdir(parents=True, exist_ok=True)
        os.environ.update(environment.environment_variables())
        print(f"train: running {points.points[TRAIN].value} from {points.distribution}", flush=True)
        call_training_function(points.load(TRAIN), environment)
    except SystemExit as stop:
        if stop.code in (None, 0):
            return _succeed(paths)
        return _fail(paths, RuntimeError(f"training exited with status {stop.code}"), EXIT_FAILURE)
    except TrainingStopped as stop:
        return _fail(paths, stop, EXIT_SIGTERM)
    except BaseException as error:  # noqa: BLE001 - every failure must reach output/failure
        return _fail(paths, error, EXIT_FAILURE)
    return _succeed(paths)


def _succeed(paths: SageMakerPaths) -> int:
    _write(paths.success_file, "")
    print("train: succeeded", flush=True)
    return 0


def _fail(paths: SageMakerPaths, error: BaseException, code: int) -> int:
    text = failure_text(error)
    _write(paths.failure_file, text)
    print(f"train: failed: {text}", file=sys.stderr, flush=True)
    return code
