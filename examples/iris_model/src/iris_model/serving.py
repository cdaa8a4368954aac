"""Functions the built-in server calls: model_fn once per server start, predict_fn per request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np

from iris_model.train import MODEL_FILE


def model_fn(model_dir: str) -> Any:
    return joblib.load(Path(model_dir) / MODEL_FILE)


def predict_fn(data: np.ndarray, model: Any) -> np.ndarray:
    return model.predict(data)
