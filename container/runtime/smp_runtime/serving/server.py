"""What `serve` runs: the user's own `serve` entry point when declared, else the built-in server.

The built-in server loads the model with the user's `model_fn(model_dir)` once, then forks
MODEL_SERVER_WORKERS workers (default: one per CPU core) on port 8080 (SAGEMAKER_BIND_TO_PORT).
Micro-batching (batching.py) is off unless the package's table or the environment switches it on
(settings.py); off, the workers run InvocationsApp exactly as without it.
"""

from __future__ import annotations

import gc
import logging
import os
import time

from smp_runtime import env_vars
from smp_runtime.entry_points import (
    INPUT_FN,
    MODEL_FN,
    OUTPUT_FN,
    PREDICT_FN,
    SERVE,
    UserEntryPoints,
)
from smp_runtime.paths import SageMakerPaths
from smp_runtime.serving.settings import BatchSettings, SettingsError, settings_for

LOG = logging.getLogger("smp_runtime.serving")

DEFAULT_PORT = 8080
DEFAULT_MAX_PAYLOAD_MB = 6
DEFAULT_GRACEFUL_SECONDS = 60


def _int_setting(name: str, default: int, minimum: int = 1) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SystemExit(f"serve: {name}={text!r} must be an integer") from None
    if value < minimum:
        raise SystemExit(f"serve: {name}={value} must be at least {minimum}")
    return value


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def batch_settings(points: UserEntryPoints) -> BatchSettings:
    try:
        return settings_for(points.distribution)
    except SettingsError as error:
        raise SystemExit(f"serve: {error}") from None


def freeze_loaded_objects() -> None:
    """Keeps the garbage collector away from everything loaded so far (the model, its libraries).

    A full collection walks every tracked object: with a 100-tree forest and scikit-learn loaded,
    one took 40 ms, and a predict call allocates enough to set one off every few seconds, stalling
    every request queued at that worker (much of the forest's p99). Frozen, a full collection
    walks only what serving allocated since: 0.001 ms. The workers forked afterwards also stop
    writing to those objects' GC headers, so their memory pages stay shared with the parent.
    """
    gc.collect()
    gc.freeze()


def run_builtin_server(points: UserEntryPoints, paths: SageMakerPaths) -> int:
    from smp_runtime.serving.app import InvocationsApp, Model
    from smp_runtime.serving.workers import run_workers

    started = time.monotonic()
    port = _int_setting(env_vars.SAGEMAKER_BIND_TO_PORT, DEFAULT_PORT)
    workers = _int_setting(env_vars.MODEL_SERVER_WORKERS, default_workers())
    graceful = _int_setting(env_vars.MODEL_SERVER_TIMEOUT, DEFAULT_GRACEFUL_SECONDS)
    max_body = _int_setting(env_vars.SAGEMAKER_MAX_PAYLOAD_IN_MB, DEFAULT_MAX_PAYLOAD_MB) * 1024 * 1024
    batching = batch_settings(points)
    model_fn = points.load(MODEL_FN)
    model = Model(
        model=model_fn(str(paths.model_dir)),
        predict_fn=points.load(PREDICT_FN),
        input_fn=points.load(INPUT_FN),
        output_fn=points.load(OUTPUT_FN),
    )
    freeze_loaded_objects()
    LOG.warning(
        "serve: model from %s loaded in %.2fs; %d worker(s) on port %d; %s",
        points.distribution,
        time.monotonic() - started,
        workers,
        port,
        batching.describe(),
    )
    if batching.enabled:
        from smp_runtime.serving.batching import BatchingApp

        app: InvocationsApp = BatchingApp(model, max_body, batching)
    else:
        app = InvocationsApp(model, max_body)
    return run_workers(app, "0.0.0.0", port, workers, graceful)  # noqa: S104


def run(points: UserEntryPoints, paths: SageMakerPaths) -> int:
    """Serves with `points` (already checked for serving) until stopped; the exit code."""
    os.environ.setdefault(env_vars.SM_MODEL_DIR, str(paths.model_dir))
    if points.has(SERVE):
        LOG.warning("serve: running %s from %s", points.points[SERVE].value, points.distribution)
        result = points.load(SERVE)()
        return result if isinstance(result, int) else 0
    return run_builtin_server(points, paths)
