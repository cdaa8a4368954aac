"""Train the example package once into a temporary /opt/ml-shaped tree.

The example's `train`, run from the image-like virtualenv (benchmarks.envs), writes the
artifact that every server then loads: our server through the example's model_fn, the BYO
and ceiling apps straight from the file.
"""

import csv
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks import envs

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PACKAGE = REPO / "examples" / "iris_model"
TRAINING_CSV = REPO / "examples" / "data" / "iris.csv"
ARTIFACT_NAME = "model.joblib"
CHANNEL = "train"


@dataclass(frozen=True)
class PreparedModel:
    base_dir: Path
    bin_dir: Path
    artifact: Path
    feature_rows: list[list[str]]
    source: str

    def runtime_environment(self) -> dict[str, str]:
        """What the installed `train` / `serve` need on top of os.environ."""
        return {"SAGEMAKER_BASE_DIR": str(self.base_dir)}


def read_feature_rows(training_csv: Path) -> list[list[str]]:
    """The training rows without their label, which is the first column."""
    with training_csv.open(newline="") as handle:
        return [row[1:] for row in csv.reader(handle) if row]


def lay_out_training_job(base_dir: Path) -> None:
    config = base_dir / "input" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text("{}")
    (config / "inputdataconfig.json").write_text(json.dumps({CHANNEL: {"ContentType": "text/csv"}}))
    channel = base_dir / "input" / "data" / CHANNEL
    channel.mkdir(parents=True, exist_ok=True)
    (channel / TRAINING_CSV.name).write_bytes(TRAINING_CSV.read_bytes())
    for directory in ("model", "output"):
        (base_dir / directory).mkdir(exist_ok=True)


def prepare(work_dir: Path) -> PreparedModel:
    base_dir = work_dir / "opt-ml"
    for needed in (EXAMPLE_PACKAGE, TRAINING_CSV):
        if not needed.exists():
            raise SystemExit(
                f"bench: {needed.relative_to(REPO)} is missing; the bench trains the example with it"
            )
    bin_dir = envs.image_venv(EXAMPLE_PACKAGE)
    lay_out_training_job(base_dir)
    model = PreparedModel(
        base_dir=base_dir,
        bin_dir=bin_dir,
        artifact=base_dir / "model" / ARTIFACT_NAME,
        feature_rows=read_feature_rows(TRAINING_CSV),
        source=f"{EXAMPLE_PACKAGE.relative_to(REPO)} trained by its `train` on "
        f"{TRAINING_CSV.relative_to(REPO)}",
    )
    completed = subprocess.run(
        [str(bin_dir / "train")],
        env={**os.environ, **model.runtime_environment()},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0 or not model.artifact.exists():
        failure = base_dir / "output" / "failure"
        reason = failure.read_text() if failure.exists() else completed.stderr[-2000:]
        raise SystemExit(f"bench: training the example failed (exit {completed.returncode}): {reason}")
    return model
