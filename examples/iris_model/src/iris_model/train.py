"""Training entry point: fits a decision tree and prints the validation accuracy as a metric."""

from __future__ import annotations

import joblib
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier
from smp_runtime import TrainingEnvironment

from iris_model.data import load_labelled_csv

MODEL_FILE = "model.joblib"


def main(env: TrainingEnvironment) -> None:
    max_depth = env.hyperparameter("max_depth", int, default=5)
    seed = env.hyperparameter("random_state", int, default=0)
    validation_fraction = env.hyperparameter("validation_fraction", float, default=0.2)
    if max_depth < 1:
        raise ValueError(f"hyperparameter max_depth must be at least 1, got {max_depth}")

    features, labels = load_labelled_csv(env.channel("training"))
    if "validation" in env.channels:
        train_x, train_y = features, labels
        valid_x, valid_y = load_labelled_csv(env.channel("validation"))
    else:
        train_x, valid_x, train_y, valid_y = train_test_split(
            features, labels, test_size=validation_fraction, random_state=seed, stratify=labels
        )

    model = DecisionTreeClassifier(max_depth=max_depth, random_state=seed).fit(train_x, train_y)
    accuracy = model.score(valid_x, valid_y)
    print(f"trained on {len(train_y)} rows, validated on {len(valid_y)}")
    # SageMaker MetricDefinition regex: validation:accuracy=([0-9.]+)
    print(f"validation:accuracy={accuracy:.4f}", flush=True)
    joblib.dump(model, env.model_dir / MODEL_FILE)
