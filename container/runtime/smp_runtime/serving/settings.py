"""Micro-batching settings: the package's `[tool.sagemaker-pipeline]` table, overridden by the environment.

    # the user's pyproject.toml                  # or per endpoint (wins over the package)
    [tool.sagemaker-pipeline]                    MODEL_SERVER_MAX_BATCH_SIZE=32
    max-batch-size = 32                          MODEL_SERVER_MAX_BATCH_DELAY_MS=0
    max-batch-delay-ms = 0

Where the table is read from: an installed distribution keeps no `[tool]` table, so the runtime
looks for it in two places, in order:
1. the package's own pyproject.toml, when the distribution was pip-installed from a local folder
   that still exists (PEP 610 `direct_url.json`: `pip install ./package`, editable installs);
2. `sagemaker_pipeline.json` in the distribution's metadata folder, the copy that
   `smp-check --for build` writes while the sources are still there (the image build runs it right
   after `pip install ./package`; only /opt/venv reaches the final image, the sources do not).
Invalid values stop `serve`, and fail `smp-check --for build`, with a message saying what to write.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from smp_runtime import env_vars

TABLE = "sagemaker-pipeline"
MAX_BATCH_SIZE_KEY = "max-batch-size"
MAX_BATCH_DELAY_KEY = "max-batch-delay-ms"
KNOWN_KEYS = (MAX_BATCH_SIZE_KEY, MAX_BATCH_DELAY_KEY)
RECORDED_FILE = "sagemaker_pipeline.json"
MAX_DELAY_MS = 1000.0  # a longer wait is surely a unit mistake (seconds for milliseconds)


class SettingsError(ValueError):
    """A batching setting is invalid; the message names it, where it came from and what is allowed."""


@dataclass(frozen=True)
class BatchSettings:
    max_batch_size: int = 0  # requests per predict call; 0 or 1 = off
    max_delay_ms: float = 0.0  # 0 = adaptive: never wait while the model is idle
    source: str = "default"  # where the values came from, for the start-up log line

    @property
    def enabled(self) -> bool:
        return self.max_batch_size > 1

    def describe(self) -> str:
        if not self.enabled:
            return "micro-batching off"
        delay = "adaptive" if self.max_delay_ms == 0 else f"up to {self.max_delay_ms:g} ms delay"
        return f"micro-batching up to {self.max_batch_size} requests, {delay} (from {self.source})"


def _batch_size(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{where} must be an integer (0 or 1 = no batching), not {value!r}")
    if value < 0:
        raise SettingsError(f"{where} must be 0 or more (0 or 1 = no batching), not {value}")
    return value


def _delay_ms(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SettingsError(f"{where} must be a number of milliseconds (0 = adaptive), not {value!r}")
    if not 0 <= value <= MAX_DELAY_MS:
        raise SettingsError(f"{where} must be between 0 and {MAX_DELAY_MS:g} milliseconds, not {value}")
    return float(value)


def parse_table(table: Any, source: str) -> dict[str, Any]:
    """The validated batching values of a `[tool.sagemaker-pipeline]` table (unknown keys are ignored)."""
    if not isinstance(table, dict):
        raise SettingsError(f"[tool.{TABLE}] in {source} must be a table, not {table!r}")
    values: dict[str, Any] = {}
    if MAX_BATCH_SIZE_KEY in table:
        where = f"[tool.{TABLE}] {MAX_BATCH_SIZE_KEY} in {source}"
        values[MAX_BATCH_SIZE_KEY] = _batch_size(table[MAX_BATCH_SIZE_KEY], where)
    if MAX_BATCH_DELAY_KEY in table:
        where = f"[tool.{TABLE}] {MAX_BATCH_DELAY_KEY} in {source}"
        values[MAX_BATCH_DELAY_KEY] = _delay_ms(table[MAX_BATCH_DELAY_KEY], where)
    return values


def _from_environment(name: str) -> Any:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    if name == env_vars.MODEL_SERVER_MAX_BATCH_SIZE:
        try:
            size = int(text)
        except ValueError:
            raise SettingsError(f"{name}={text!r} must be an integer (0 or 1 = no batching)") from None
        return _batch_size(size, f"{name}={text!r}")
    try:
        number = float(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} must be a number of milliseconds (0 = adaptive)") from None
    return _delay_ms(number, f"{name}={text!r}")


def batch_settings(table: dict[str, Any] | None = None, source: str = "") -> BatchSettings:
    """The table's values (already parsed), each overridden by its environment variable when set."""
    table = table or {}
    size = _from_environment(env_vars.MODEL_SERVER_MAX_BATCH_SIZE)
    delay = _from_environment(env_vars.MODEL_SERVER_MAX_BATCH_DELAY_MS)
    origins = []
    if size is None and MAX_BATCH_SIZE_KEY in table:
        size = table[MAX_BATCH_SIZE_KEY]
        origins.append(source)
    elif size is not None:
        origins.append(env_vars.MODEL_SERVER_MAX_BATCH_SIZE)
    if delay is None and MAX_BATCH_DELAY_KEY in table:
        delay = table[MAX_BATCH_DELAY_KEY]
        origins.append(source)
    elif delay is not None:
        origins.append(env_vars.MODEL_SERVER_MAX_BATCH_DELAY_MS)
    return BatchSettings(
        max_batch_size=0 if size is None else size,
        max_delay_ms=0.0 if delay is None else delay,
        source=", ".join(dict.fromkeys(origins)) or "default",
    )


def _source_pyproject(dist: metadata.Distribution) -> Path | None:
    """The pyproject.toml of the folder `dist` was pip-installed from, when that folder still exists."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        origin = json.loads(text)
    except ValueError:
        return None
    url = origin.get("url", "") if isinstance(origin, dict) else ""
    if "dir_info" not in origin or not url.startswith("file:"):
        return None
    pyproject = Path(unquote(urlparse(url).path)) / "pyproject.toml"
    return pyproject if pyproject.is_file() else None


def _table_in(pyproject: Path) -> Any:
    import tomllib  # only when a pyproject is there to read: serve's cold start stays as it was

    try:
        with pyproject.open("rb") as file:
            document = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"cannot read {pyproject}: {error}") from None
    return document.get("tool", {}).get(TABLE, {})


def package_table(dist: metadata.Distribution) -> tuple[dict[str, Any], str]:
    """The validated batching values of the package's table and where they were read ('' if none)."""
    pyproject = _source_pyproject(dist)
    if pyproject is not None:
        return parse_table(_table_in(pyproject), str(pyproject)), str(pyproject)
    recorded = dist.read_text(RECORDED_FILE)
    if recorded:
        source = f"{RECORDED_FILE} of {dist.metadata['Name']}"
        try:
            table = json.loads(recorded)
        except ValueError as error:
            raise SettingsError(f"{source} is not valid JSON ({error}); rebuild the image") from None
        return parse_table(table, source), source
    return {}, ""


def settings_for(distribution: str) -> BatchSettings:
    """The batching settings `serve` uses for the installed `distribution`."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return batch_settings()
    return batch_settings(*package_table(dist))


def _metadata_dir(dist: metadata.Distribution) -> Path | None:
    for file in dist.files or ():
        if file.name == "METADATA" and file.parent.name.endswith(".dist-info"):
            return Path(str(dist.locate_file(file))).parent
    return None


def record_package_table(distribution: str) -> str | None:
    """Copies the package's table into its installed metadata (`smp-check --for build`); what was done.

    The image's final stage keeps /opt/venv but not the package sources, so `serve` reads this copy.
    Raises SettingsError when the table holds invalid values (the build fails with the message).
    """
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    pyproject = _source_pyproject(dist)
    folder = _metadata_dir(dist)
    if pyproject is None or folder is None:
        return None
    raw = _table_in(pyproject)
    parse_table(raw, str(pyproject))
    recorded = folder / RECORDED_FILE
    if not raw:
        recorded.unlink(missing_ok=True)
        return None
    kept = {key: raw[key] for key in KNOWN_KEYS if key in raw}
    recorded.write_text(json.dumps(kept, sort_keys=True) + "\n")
    record = folder / "RECORD"
    line = f"{folder.name}/{RECORDED_FILE},,\n"
    if record.is_file() and line not in record.read_text():
        with record.open("a") as file:
            file.write(line)  # so that `pip uninstall` removes it with the rest
    return f"[tool.{TABLE}] of {pyproject} recorded in {recorded}"
