"""What a training function gets: hyperparameters, channels, resource config and paths of the job."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from smp_runtime import env_vars
from smp_runtime.paths import SageMakerPaths

T = TypeVar("T")
# SageMaker's (and its Python SDK's) conventional channel is `training`; this project's first releases
# named it `train`. Code written for either finds the data under both names (see alias_channels).
CHANNEL_ALIASES = {"train": "training", "training": "train"}
_MISSING: Any = object()
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


class HyperparameterError(ValueError):
    """A hyperparameter is missing or cannot be cast to the type the training code asked for."""


def decode_hyperparameters(raw: dict[str, Any]) -> dict[str, Any]:
    """SageMaker passes every value as a string: decode each as JSON, falling back to the raw string."""
    decoded = {}
    for name, value in raw.items():
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        decoded[name] = value
    return decoded


def _cast(name: str, value: Any, cast: Callable[[Any], T]) -> T:
    if cast is bool:
        if isinstance(value, bool):
            return value  # type: ignore[return-value]
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE  # type: ignore[return-value]
    else:
        try:
            if cast is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return cast(value)
        except (TypeError, ValueError):
            pass
    type_name = getattr(cast, "__name__", str(cast))
    raise HyperparameterError(f"hyperparameter {name!r} = {value!r} is not a valid {type_name}")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        return {}
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, found {type(data).__name__}")
    return data


@dataclass(frozen=True)
class TrainingEnvironment:
    paths: SageMakerPaths
    hyperparameters: dict[str, Any]
    raw_hyperparameters: dict[str, Any]
    input_data_config: dict[str, Any]
    resource_config: dict[str, Any]

    @classmethod
    def load(cls, paths: SageMakerPaths | None = None) -> TrainingEnvironment:
        paths = paths or SageMakerPaths.from_environment()
        raw = _read_json(paths.hyperparameters_file)
        return cls(
            paths=paths,
            hyperparameters=decode_hyperparameters(raw),
            raw_hyperparameters=raw,
            input_data_config=_read_json(paths.input_data_config_file),
            resource_config=_read_json(paths.resource_config_file),
        )

    def hyperparameter(self, name: str, cast: Callable[[Any], T] = str, default: Any = _MISSING) -> T:
        """The decoded hyperparameter `name`, cast explicitly; `default` when it was not given."""
        if name not in self.hyperparameters:
            if default is _MISSING:
                raise HyperparameterError(f"hyperparameter {name!r} is required but was not given")
            return default
        return _cast(name, self.hyperparameters[name], cast)

    @property
    def channels(self) -> dict[str, Path]:
        """Channel name -> directory, from inputdataconfig.json and the folders under input/data."""
        names = set(self.input_data_config)
        if self.paths.data_dir.is_dir():
            # an alias (alias_channels) is the same data again: listing it would read it twice
            names.update(p.name for p in self.paths.data_dir.iterdir() if p.is_dir() and not p.is_symlink())
        return {name: self.paths.channel_dir(name) for name in sorted(names)}

    def channel(self, name: str) -> Path:
        directory = self.paths.channel_dir(name)
        if not directory.is_dir() and name in CHANNEL_ALIASES:
            directory = self.paths.channel_dir(CHANNEL_ALIASES[name])
        if not directory.is_dir():
            raise FileNotFoundError(
                f"training channel {name!r} is missing: expected files under {directory} "
                f"(channels present: {', '.join(self.channels) or 'none'})"
            )
        return directory

    @property
    def model_dir(self) -> Path:
        return self.paths.model_dir

    @property
    def output_data_dir(self) -> Path:
        return self.paths.output_data_dir

    @property
    def current_host(self) -> str:
        return str(self.resource_config.get("current_host", "algo-1"))

    @property
    def hosts(self) -> list[str]:
        return list(self.resource_config.get("hosts", [self.current_host]))

    def environment_variables(self) -> dict[str, str]:
        """The SM_* variables of the SageMaker training toolkit for this job."""
        variables = {
            env_vars.SM_MODEL_DIR: str(self.model_dir),
            env_vars.SM_INPUT_DIR: str(self.paths.input_dir),
            env_vars.SM_INPUT_CONFIG_DIR: str(self.paths.input_config_dir),
            env_vars.SM_OUTPUT_DIR: str(self.paths.output_dir),
            env_vars.SM_OUTPUT_DATA_DIR: str(self.output_data_dir),
            env_vars.SM_CHANNELS: json.dumps(list(self.channels)),
            env_vars.SM_HPS: json.dumps(self.hyperparameters),
            env_vars.SM_CURRENT_HOST: self.current_host,
            env_vars.SM_HOSTS: json.dumps(self.hosts),
            env_vars.SM_NUM_CPUS: str(os.cpu_count() or 1),
            env_vars.SM_INPUT_DATA_CONFIG: json.dumps(self.input_data_config),
            env_vars.SM_RESOURCE_CONFIG: json.dumps(self.resource_config),
        }
        for name, directory in self.channels.items():
            variables[env_vars.SM_CHANNEL_PREFIX + name.upper()] = str(directory)
            alias = CHANNEL_ALIASES.get(name)
            if alias and alias not in self.channels:
                variables.setdefault(env_vars.SM_CHANNEL_PREFIX + alias.upper(), str(directory))
        for name, value in self.raw_hyperparameters.items():
            text = value if isinstance(value, str) else json.dumps(value)
            variables[env_vars.SM_HP_PREFIX + name.upper()] = text
        return variables


def alias_channels(paths: SageMakerPaths) -> list[str]:
    """Exposes a `training` channel also as `train` and vice versa (a symlink beside it), so that code
    reading the other name at a hard-coded path keeps working after the channel name changes.
    Returns the aliases made."""
    made = []
    for name, other in CHANNEL_ALIASES.items():
        directory, alias = paths.channel_dir(name), paths.channel_dir(other)
        if directory.is_dir() and not alias.exists() and not alias.is_symlink():
            try:
                alias.symlink_to(name, target_is_directory=True)
            except OSError:
                continue  # a read-only data directory: env.channel() still resolves the alias
            made.append(f"{other} -> {name}")
    return made


def training_environment() -> TrainingEnvironment:
    """The current job's environment (paths follow SAGEMAKER_BASE_DIR)."""
    return TrainingEnvironment.load()
