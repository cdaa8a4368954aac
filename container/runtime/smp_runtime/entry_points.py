"""Finds the user's train/serve/model functions among the installed distributions.

Seed-compatible: an entry point named `train`, `serve`, `model_fn`, `predict_fn`, `input_fn` or
`output_fn` in any group `<package>.<anything>` of one distribution, where `<package>` is the
distribution's name or one of its top-level import packages, e.g.
`"gamesbiz.training": ["train=gamesbiz.train:entry_point"]`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from smp_runtime import env_vars

TRAIN = "train"
SERVE = "serve"
MODEL_FN = "model_fn"
PREDICT_FN = "predict_fn"
INPUT_FN = "input_fn"
OUTPUT_FN = "output_fn"
KNOWN_NAMES = (TRAIN, SERVE, MODEL_FN, PREDICT_FN, INPUT_FN, OUTPUT_FN)

RUNTIME_DISTRIBUTION = "smp_runtime"

FOR_BUILD = "build"
FOR_TRAIN = "train"
FOR_SERVE = "serve"


class EntryPointError(Exception):
    """The user's package does not declare usable entry points; the message says what to add."""


@dataclass(frozen=True)
class UserEntryPoints:
    distribution: str
    points: dict[str, metadata.EntryPoint] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.points

    def load(self, name: str) -> Callable[..., Any] | None:
        point = self.points.get(name)
        return None if point is None else point.load()

    @property
    def uses_builtin_server(self) -> bool:
        return not self.has(SERVE) and self.has(MODEL_FN) and self.has(PREDICT_FN)

    def describe(self) -> str:
        declared = ", ".join(
            f"{name}={self.points[name].value}" for name in KNOWN_NAMES if name in self.points
        )
        return f"{self.distribution}: {declared}"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _top_level_packages(dist: metadata.Distribution) -> set[str]:
    listed = dist.read_text("top_level.txt")
    if listed:
        return {line.strip() for line in listed.splitlines() if line.strip()}
    packages = set()
    for path in dist.files or ():
        first = path.parts[0] if path.parts else ""
        if first.endswith((".dist-info", ".egg-info", ".data")) or first in ("..", "__pycache__"):
            continue
        packages.add(first.removesuffix(".py"))
    return packages


def _candidates(dist: metadata.Distribution, name: str) -> list[metadata.EntryPoint]:
    named = [ep for ep in dist.entry_points if ep.name in KNOWN_NAMES and "." in ep.group]
    if not named:
        return []
    owners = {_normalize(name)} | {_normalize(p) for p in _top_level_packages(dist)}
    return [ep for ep in named if _normalize(ep.group.split(".", 1)[0]) in owners]


def _collect(distributions: Iterable[metadata.Distribution]) -> dict[str, list[metadata.EntryPoint]]:
    found: dict[str, list[metadata.EntryPoint]] = {}
    seen: set[str] = set()
    for dist in distributions:
        # Cheap test first: parsing METADATA for the name costs more than reading entry_points.txt.
        if not any(ep.name in KNOWN_NAMES for ep in dist.entry_points):
            continue
        name = dist.metadata["Name"] or ""
        key = _normalize(name)
        # The same distribution can appear twice on sys.path; the first one is the one imported.
        if key in seen or key == RUNTIME_DISTRIBUTION:
            continue
        seen.add(key)
        points = _candidates(dist, name)
        if points:
            found[name] = points
    return found


def _pick_distribution(found: dict[str, list[metadata.EntryPoint]], wanted: str | None) -> str:
    if wanted:
        for name in found:
            if _normalize(name) == _normalize(wanted):
                return name
        raise EntryPointError(
            f"{env_vars.SMP_USER_PACKAGE}={wanted} but that distribution declares no train/serve entry "
            f"points (distributions that do: {', '.join(sorted(found)) or 'none'}).\n\n{snippet(wanted)}"
        )
    if not found:
        raise EntryPointError(
            "No installed distribution declares a `train` entry point in a group named "
            "`<your_package>.<anything>`. Add this to your package and reinstall it:\n\n" + snippet(None)
        )
    if len(found) > 1:
        listing = "; ".join(
            f"{name} ({', '.join(sorted({ep.name for ep in points}))})"
            for name, points in sorted(found.items())
        )
        raise EntryPointError(
            f"Entry points are ambiguous: more than one installed distribution declares them: {listing}. "
            f"Install only your own package in the image, or set {env_vars.SMP_USER_PACKAGE}=<distribution>."
        )
    return next(iter(found))


def _unique_points(distribution: str, points: list[metadata.EntryPoint]) -> dict[str, metadata.EntryPoint]:
    chosen: dict[str, metadata.EntryPoint] = {}
    for point in points:
        earlier = chosen.get(point.name)
        if earlier is not None and earlier.value != point.value:
            raise EntryPointError(
                f"Entry point `{point.name}` is ambiguous in {distribution}: it is declared in group "
                f"`{earlier.group}` as `{earlier.value}` and in group `{point.group}` as `{point.value}`. "
                "Keep exactly one declaration and reinstall the package."
            )
        chosen[point.name] = point
    return chosen


def discover(
    distributions: Iterable[metadata.Distribution] | None = None, wanted: str | None = None
) -> UserEntryPoints:
    """The user's entry points; raises EntryPointError with the snippet to add when unusable."""
    if distributions is None:
        distributions = metadata.distributions()
    if wanted is None:
        wanted = os.environ.get(env_vars.SMP_USER_PACKAGE) or None
    found = _collect(distributions)
    distribution = _pick_distribution(found, wanted)
    return UserEntryPoints(distribution, _unique_points(distribution, found[distribution]))


def require(points: UserEntryPoints, purpose: str) -> UserEntryPoints:
    """Checks that `points` can be used for `purpose` (build, train or serve)."""
    missing = []
    if purpose in (FOR_BUILD, FOR_TRAIN) and not points.has(TRAIN):
        missing.append(TRAIN)
    if purpose in (FOR_BUILD, FOR_SERVE) and not points.has(SERVE):
        missing.extend(name for name in (MODEL_FN, PREDICT_FN) if not points.has(name))
    if missing:
        raise EntryPointError(
            f"{points.distribution} does not declare {' and '.join(f'`{m}`' for m in missing)} "
            f"(declared: {points.describe().split(': ', 1)[1] or 'nothing'}). Serving needs either `serve` "
            "(your own server) or `model_fn` + `predict_fn` (the built-in server). Add what is missing "
            "and reinstall the package:\n\n" + snippet(points.distribution)
        )
    return points


def import_all(points: UserEntryPoints) -> UserEntryPoints:
    """Imports every declared target, so that a typo or a missing dependency is reported now, with the
    real error, instead of when SageMaker first calls it."""
    problems = []
    for name in KNOWN_NAMES:
        point = points.points.get(name)
        if point is None:
            continue
        try:
            target = point.load()
        except Exception as error:  # noqa: BLE001 - any import-time error is the user's to see
            problems.append(f"`{name} = {point.value}` cannot be imported: {type(error).__name__}: {error}")
            continue
        if not callable(target):
            problems.append(f"`{name} = {point.value}` is a {type(target).__name__}, not a function")
    if problems:
        raise EntryPointError(
            f"{points.distribution} declares entry points that do not load:\n  "
            + "\n  ".join(problems)
            + "\nFix the module path (`package.module:function`) or install the missing dependency "
            "(declare it in [project] dependencies), then reinstall the package."
        )
    return points


def snippet(distribution: str | None) -> str:
    package = _normalize(distribution) if distribution else "your_package"
    return f"""# pyproject.toml
[project.entry-points."{package}.training"]
train = "{package}.train:main"            # main() or main(env: smp_runtime.TrainingEnvironment)

[project.entry-points."{package}.hosting"]
model_fn = "{package}.serving:model_fn"   # model_fn(model_dir) -> model
predict_fn = "{package}.serving:predict_fn"  # predict_fn(data, model) -> predictions
# or run your own server instead of the built-in one:
# serve = "{package}.server:start_server"

# or, in setup.py:
# entry_points={{
#     "{package}.training": ["train={package}.train:main"],
#     "{package}.hosting": ["model_fn={package}.serving:model_fn",
#                           "predict_fn={package}.serving:predict_fn"],
# }},"""
