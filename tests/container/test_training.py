"""The training environment: hyperparameter decoding and casting, channels, SM_* variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from smp_runtime.paths import SageMakerPaths
from smp_runtime.training import HyperparameterError, TrainingEnvironment, decode_hyperparameters

from .conftest import make_opt_ml


def test_hyperparameters_decode_json_with_raw_string_fallback() -> None:
    decoded = decode_hyperparameters(
        {"depth": "4", "rate": "1e-3", "flag": "true", "name": "tree", "quoted": '"x"', "list": "[1, 2]"}
    )
    assert decoded == {"depth": 4, "rate": 0.001, "flag": True, "name": "tree", "quoted": "x", "list": [1, 2]}


def test_hyperparameter_casts_explicitly_and_explains_bad_values(tmp_path: Path) -> None:
    base = make_opt_ml(tmp_path, {"depth": "4", "rate": "0.5", "on": "False", "bad": "abc", "half": "2.5"})
    env = TrainingEnvironment.load(SageMakerPaths(base))
    assert env.hyperparameter("depth", int) == 4
    assert env.hyperparameter("depth", str) == "4"
    assert env.hyperparameter("rate", float) == 0.5
    assert env.hyperparameter("on", bool) is False
    assert env.hyperparameter("absent", int, default=7) == 7
    with pytest.raises(HyperparameterError, match="'bad' = 'abc' is not a valid int"):
        env.hyperparameter("bad", int)
    with pytest.raises(HyperparameterError, match=r"'half' = 2\.5 is not a valid int"):
        env.hyperparameter("half", int)
    with pytest.raises(HyperparameterError, match="'absent' is required"):
        env.hyperparameter("absent", int)


def test_channels_come_from_config_and_folders(tmp_path: Path) -> None:
    base = make_opt_ml(tmp_path)
    (base / "input" / "data" / "validation").mkdir()
    env = TrainingEnvironment.load(SageMakerPaths(base))
    assert env.channels == {"train": base / "input/data/train", "validation": base / "input/data/validation"}
    with pytest.raises(FileNotFoundError, match="channel 'test' is missing"):
        env.channel("test")


def test_environment_variables_follow_the_training_toolkit(tmp_path: Path) -> None:
    base = make_opt_ml(tmp_path, {"max_depth": "3", "criterion": "gini"})
    variables = TrainingEnvironment.load(SageMakerPaths(base)).environment_variables()
    assert variables["SM_MODEL_DIR"] == str(base / "model")
    assert variables["SM_CHANNEL_TRAIN"] == str(base / "input/data/train")
    assert json.loads(variables["SM_CHANNELS"]) == ["train"]
    assert json.loads(variables["SM_HPS"]) == {"max_depth": 3, "criterion": "gini"}
    assert variables["SM_HP_MAX_DEPTH"] == "3"
    assert variables["SM_CURRENT_HOST"] == "algo-1"
    assert json.loads(variables["SM_HOSTS"]) == ["algo-1"]
    assert variables["SM_OUTPUT_DATA_DIR"] == str(base / "output/data")


def test_missing_config_files_mean_empty_config(tmp_path: Path) -> None:
    env = TrainingEnvironment.load(SageMakerPaths(tmp_path))
    assert env.hyperparameters == {} and env.channels == {} and env.hosts == ["algo-1"]


def test_base_dir_follows_sagemaker_base_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(tmp_path))
    paths = SageMakerPaths.from_environment()
    assert paths.failure_file == tmp_path / "output" / "failure"
    assert paths.hyperparameters_file == tmp_path / "input" / "config" / "hyperparameters.json"
    monkeypatch.delenv("SAGEMAKER_BASE_DIR")
    assert SageMakerPaths.from_environment().model_dir == Path("/opt/ml/model")


@pytest.mark.parametrize(("given", "alias"), [("training", "train"), ("train", "training")])
def test_the_train_and_training_channels_answer_to_both_names(tmp_path: Path, given: str, alias: str) -> None:
    """A stack updated from the old `train` channel to SageMaker's `training` (or back) keeps running
    code that reads the other name, by path or through the environment."""
    from smp_runtime.training import alias_channels

    paths = SageMakerPaths(tmp_path)
    paths.channel_dir(given).mkdir(parents=True)
    (paths.channel_dir(given) / "rows.csv").write_text("1,2\n")

    assert alias_channels(paths) == [f"{alias} -> {given}"]
    assert (paths.channel_dir(alias) / "rows.csv").read_text() == "1,2\n"  # hard-coded paths work
    environment = TrainingEnvironment.load(paths)
    assert list(environment.channels) == [given]  # the alias is not a second copy of the data
    assert environment.channel(alias) == paths.channel_dir(alias)
    variables = environment.environment_variables()
    assert variables[f"SM_CHANNEL_{alias.upper()}"] == variables[f"SM_CHANNEL_{given.upper()}"]
    assert alias_channels(paths) == []  # idempotent


def test_no_alias_when_both_channels_exist(tmp_path: Path) -> None:
    from smp_runtime.training import alias_channels

    paths = SageMakerPaths(tmp_path)
    for name in ("train", "training"):
        paths.channel_dir(name).mkdir(parents=True)
    assert alias_channels(paths) == []
    assert list(TrainingEnvironment.load(paths).channels) == ["train", "training"]
