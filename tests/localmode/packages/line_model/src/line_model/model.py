"""A linear regression on two features (label first, SageMaker's CSV convention); prints its RMSE.

Its train reads the data where code written for this project's old channel name looks: the
hard-coded `input/data/train/` (under SAGEMAKER_BASE_DIR, /opt/ml in a container), so every run of
it checks that a stack on the default `training` channel still trains such code."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LinearRegression
from smp_runtime import TrainingEnvironment

MODEL_FILE = "model.pkl"
TRAIN_DIR = Path(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml")) / "input" / "data" / "train"


def train(env: TrainingEnvironment) -> None:
    rows = np.vstack([np.loadtxt(path, delimiter=",", ndmin=2) for path in sorted(TRAIN_DIR.glob("*.csv"))])
    labels, features = rows[:, 0], rows[:, 1:]
    model = LinearRegression().fit(features, labels)
    rmse = float(np.sqrt(np.mean((model.predict(features) - labels) ** 2)))
    print(f"validation:rmse={rmse:.6f}", flush=True)
    (env.model_dir / MODEL_FILE).write_bytes(pickle.dumps(model))


def model_fn(model_dir: str) -> Any:
    return pickle.loads((Path(model_dir) / MODEL_FILE).read_bytes())


def predict_fn(data: np.ndarray, model: Any) -> np.ndarray:
    if data.shape[1] != 2:
        raise ValueError(f"expected 2 features per row, got {data.shape[1]}")
    return model.predict(data)
