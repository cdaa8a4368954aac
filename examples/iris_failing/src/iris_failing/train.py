"""Training reads its channel, then fails with a clear reason, as a broken user package would."""

from __future__ import annotations

from typing import Any

from smp_runtime import TrainingEnvironment

FAILURE_MESSAGE = "iris_failing refuses to train: this example fails on purpose to exercise the failure path"


def main(env: TrainingEnvironment) -> None:
    files = sorted(env.channel("training").rglob("*.csv"))
    print(f"iris_failing: found {len(files)} training file(s)")
    raise RuntimeError(FAILURE_MESSAGE)


def model_fn(model_dir: str) -> Any:
    raise FileNotFoundError(f"iris_failing never produces a model in {model_dir}")


def predict_fn(data: Any, model: Any) -> Any:
    raise NotImplementedError
