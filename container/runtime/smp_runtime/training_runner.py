"""The training runner behind `train`: runs the user's training entry point the way SageMaker expects.

Success writes output/success and returns 0. Any failure (missing entry point, bad config, an
exception in the user's code, an empty model directory, SIGTERM) leaves the reason in output/failure,
useful line first (SageMaker keeps its first 1024 characters as FailureReason), and returns non-zero.
A failure file the user's code wrote itself (the classic bring-your-own contract) is kept as written.
"""

from __future__ import annotations

import collections
import inspect
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from smp_runtime.entry_points import FOR_TRAIN, TRAIN, EntryPointError, discover, require
from smp_runtime.paths import SageMakerPaths
from smp_runtime.training import TrainingEnvironment, alias_channels

EXIT_FAILURE = 1
EXIT_SIGTERM = 143
LAST_FRAMES = 4
TAIL_LINES = 10


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


class OutputTail:
    """Writes through to a stream and remembers its last lines (the reason of a bare exit status)."""

    def __init__(self, stream: TextIO, lines: collections.deque[str]) -> None:
        self._stream, self._lines, self._partial = stream, lines, ""

    def write(self, text: str) -> int:
        *complete, self._partial = (self._partial + text).split("\n")
        self._lines.extend(line for line in complete if line.strip())
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def failure_text(error: BaseException) -> str:
    """What failed, first line first, then the last frames of its traceback (not the whole trace:
    SageMaker keeps 1024 characters, and the full trace is in the job's log)."""
    if isinstance(error, EntryPointError):
        return str(error)
    message = str(error).strip()
    headline = f"{type(error).__name__}: {message}" if message else type(error).__name__
    frames = traceback.extract_tb(error.__traceback__)[-LAST_FRAMES:]
    if not frames:
        return headline
    lines = [headline, "", "Last frames (most recent last):"]
    for frame in frames:
        lines.append(f"  {frame.filename}:{frame.lineno} in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line}")
    return "\n".join(lines)


def exit_failure_text(
    code: object, cause: BaseException | None, tail: collections.deque[str], failure_file: Path
) -> str:
    """A non-zero sys.exit: the exception it was raised while handling, else the last lines printed."""
    headline = f"training exited with status {code}"
    if cause is not None and not isinstance(cause, SystemExit):
        return f"{headline} while handling {failure_text(cause)}"
    if tail:
        return f"{headline}; its last output lines:\n" + "\n".join(tail)
    return f"{headline} and printed nothing: write the reason to {failure_file} or raise an exception"


def _model_written(paths: SageMakerPaths) -> bool:
    return any(path.is_file() for path in paths.model_dir.rglob("*"))


def _write(path: os.PathLike[str], text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def run(paths: SageMakerPaths) -> int:
    for stale in (paths.failure_file, paths.success_file):
        stale.unlink(missing_ok=True)
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = OutputTail(sys.stdout, tail), OutputTail(sys.stderr, tail)  # type: ignore[assignment]
    try:
        return _run(paths, tail)
    finally:
        sys.stdout, sys.stderr = streams


def _run(paths: SageMakerPaths, tail: collections.deque[str]) -> int:
    try:
        points = require(discover(), FOR_TRAIN)
        environment = TrainingEnvironment.load(paths)
        paths.model_dir.mkdir(parents=True, exist_ok=True)
        paths.output_data_dir.mkdir(parents=True, exist_ok=True)
        for alias in alias_channels(paths):
            print(f"train: channel alias {alias}", flush=True)
        os.environ.update(environment.environment_variables())
        print(f"train: running {points.points[TRAIN].value} from {points.distribution}", flush=True)
        tail.clear()  # from here on, only what the user's code prints
        call_training_function(points.load(TRAIN), environment)
    except SystemExit as stop:
        if stop.code in (None, 0):
            return _succeed(paths)
        text = exit_failure_text(stop.code, stop.__context__, tail, paths.failure_file)
        return _fail(paths, text, EXIT_FAILURE)
    except TrainingStopped as stop:
        return _fail(paths, failure_text(stop), EXIT_SIGTERM)
    except BaseException as error:  # noqa: BLE001 - every failure must reach output/failure
        return _fail(paths, failure_text(error), EXIT_FAILURE)
    return _succeed(paths)


def _succeed(paths: SageMakerPaths) -> int:
    if not _model_written(paths):
        reason = (
            f"EmptyModelError: training returned but wrote no files to {paths.model_dir}: save the "
            "trained model there (SageMaker uploads that directory as model.tar.gz; serving loads it)"
        )
        return _fail(paths, reason, EXIT_FAILURE)
    _write(paths.success_file, "")
    print("train: succeeded", flush=True)
    return 0


def _fail(paths: SageMakerPaths, text: str, code: int) -> int:
    """Records `text` in output/failure, unless the user's code wrote its own reason there."""
    own = paths.failure_file.is_file() and paths.failure_file.read_text(errors="replace").strip()
    if own:
        print(f"train: failed: {own}", file=sys.stderr, flush=True)
        seen = text.splitlines()[0]
        print(f"train: (kept the training code's own failure file; the runtime saw: {seen})", file=sys.stderr)
        return code
    _write(paths.failure_file, text)
    print(f"train: failed: {text}", file=sys.stderr, flush=True)
    return code
