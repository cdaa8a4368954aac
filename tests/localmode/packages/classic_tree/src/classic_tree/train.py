"""Trains a decision tree on every CSV in the `training` channel (label in the first column)."""

import json
import os
import pickle
import subprocess
import sys
import traceback

import numpy as np
from sklearn.tree import DecisionTreeClassifier

prefix = "/opt/ml/"
input_path = prefix + "input/data"
output_path = os.path.join(prefix, "output")
model_path = os.path.join(prefix, "model")
param_path = os.path.join(prefix, "input/config/hyperparameters.json")
channel_name = "training"
training_path = os.path.join(input_path, channel_name)


def train():
    print("Starting the training.")
    try:
        with open(param_path) as handle:
            training_params = json.load(handle)
        input_files = [
            os.path.join(training_path, name)
            for name in sorted(os.listdir(training_path))
            if name.endswith(".csv")
        ]
        if not input_files:
            raise ValueError(f"There are no CSV files in {training_path}: the training channel is empty")
        data = np.concatenate([np.loadtxt(path, delimiter=",", ndmin=2) for path in input_files])
        labels, features = data[:, 0], data[:, 1:]
        max_leaf_nodes = training_params.get("max_leaf_nodes")
        if max_leaf_nodes is not None:
            max_leaf_nodes = int(max_leaf_nodes)
        classifier = DecisionTreeClassifier(max_leaf_nodes=max_leaf_nodes).fit(features, labels)
        with open(os.path.join(model_path, "decision-tree-model.pkl"), "wb") as out:
            pickle.dump(classifier, out)
        summary = subprocess.run(
            ["classic-tree-summary", os.path.join(model_path, "decision-tree-model.pkl")],
            capture_output=True,
            text=True,
            check=True,
        )
        print(summary.stdout.strip())
        print(f"validation:accuracy={classifier.score(features, labels):.4f}")
        print("Training complete.")
    except Exception as error:  # noqa: BLE001 - the classic contract: every failure into output/failure
        trace = traceback.format_exc()
        with open(os.path.join(output_path, "failure"), "w") as out:
            out.write("Exception during training: " + str(error) + "\n" + trace)
        print("Exception during training: " + str(error) + "\n" + trace, file=sys.stderr)
        sys.exit(255)


if __name__ == "__main__":
    train()
    sys.exit(0)
