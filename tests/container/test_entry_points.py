"""Entry-point discovery against fabricated installed distributions (seed style, missing, ambiguous)."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest
from smp_runtime.entry_points import (
    FOR_BUILD,
    FOR_SERVE,
    FOR_TRAIN,
    EntryPointError,
    discover,
    require,
    snippet,
)


def make_distribution(site: Path, name: str, entry_points: str, top_level: str | None = None) -> None:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    if top_level is not None:
        (info / "top_level.txt").write_text(top_level)


def distributions(site: Path) -> list[metadata.Distribution]:
    return list(metadata.distributions(path=[str(site)]))


SEED = """
[gamesbiz.training]
train = gamesbiz.train:entry_point

[gamesbiz.hosting]
serve = gamesbiz.server:start_server
"""

BUILTIN = """
[iris_model.training]
train = iris_model.train:main

[iris_model.hosting]
model_fn = iris_model.serving:model_fn
predict_fn = iris_model.serving:predict_fn
"""


def test_seed_style_groups_are_found(tmp_path: Path) -> None:
    make_distribution(tmp_path, "gamesbiz", SEED)
    points = discover(distributions(tmp_path), wanted="")
    assert points.distribution == "gamesbiz"
    assert points.points["train"].value == "gamesbiz.train:entry_point"
    assert points.points["serve"].group == "gamesbiz.hosting"
    assert not points.uses_builtin_server
    assert require(points, FOR_BUILD) is points


def test_builtin_server_style_is_recognised(tmp_path: Path) -> None:
    make_distribution(tmp_path, "iris-model", BUILTIN)
    points = require(discover(distributions(tmp_path), wanted=""), FOR_BUILD)
    assert points.uses_builtin_server
    assert set(points.points) == {"train", "model_fn", "predict_fn"}


def test_group_prefix_may_be_a_top_level_package_of_the_distribution(tmp_path: Path) -> None:
    make_distribution(tmp_path, "games-business-models", SEED, top_level="gamesbiz\n")
    assert discover(distributions(tmp_path), wanted="").distribution == "games-business-models"


def test_groups_of_other_packages_and_unknown_names_are_ignored(tmp_path: Path) -> None:
    make_distribution(tmp_path, "plugin-host", "[otherpkg.training]\ntrain = otherpkg:main\n")
    make_distribution(
        tmp_path, "tool", "[tool.commands]\nrun = tool:main\n[console_scripts]\ntrain = tool:x\n"
    )
    with pytest.raises(EntryPointError) as raised:
        discover(distributions(tmp_path), wanted="")
    message = str(raised.value)
    assert "No installed distribution declares a `train` entry point" in message
    assert '[project.entry-points."your_package.training"]' in message
    assert 'train = "your_package.train:main"' in message


def test_two_distributions_with_entry_points_are_ambiguous(tmp_path: Path) -> None:
    make_distribution(tmp_path, "gamesbiz", SEED)
    make_distribution(tmp_path, "iris-model", BUILTIN)
    with pytest.raises(EntryPointError) as raised:
        discover(distributions(tmp_path), wanted="")
    message = str(raised.value)
    assert "ambiguous" in message
    assert "gamesbiz (serve, train)" in message
    assert "iris-model (model_fn, predict_fn, train)" in message
    assert "SMP_USER_PACKAGE" in message


def test_smp_user_package_picks_one_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_distribution(tmp_path, "gamesbiz", SEED)
    make_distribution(tmp_path, "iris-model", BUILTIN)
    monkeypatch.setenv("SMP_USER_PACKAGE", "iris_model")
    assert discover(distributions(tmp_path)).distribution == "iris-model"
    monkeypatch.setenv("SMP_USER_PACKAGE", "nope")
    with pytest.raises(EntryPointError, match="SMP_USER_PACKAGE=nope"):
        discover(distributions(tmp_path))


def test_one_name_in_two_groups_is_ambiguous(tmp_path: Path) -> None:
    make_distribution(tmp_path, "gamesbiz", SEED + "\n[gamesbiz.jobs]\ntrain = gamesbiz.other:run\n")
    with pytest.raises(EntryPointError) as raised:
        discover(distributions(tmp_path), wanted="")
    message = str(raised.value)
    assert "`train` is ambiguous in gamesbiz" in message
    assert "gamesbiz.train:entry_point" in message
    assert "gamesbiz.other:run" in message


def test_missing_serving_entry_points_name_what_to_add(tmp_path: Path) -> None:
    make_distribution(tmp_path, "trainonly", "[trainonly.training]\ntrain = trainonly:main\n")
    points = discover(distributions(tmp_path), wanted="")
    assert require(points, FOR_TRAIN) is points
    with pytest.raises(EntryPointError) as raised:
        require(points, FOR_SERVE)
    message = str(raised.value)
    assert "does not declare `model_fn` and `predict_fn`" in message
    assert 'model_fn = "trainonly.serving:model_fn"' in message
    with pytest.raises(EntryPointError, match="`model_fn` and `predict_fn`"):
        require(points, FOR_BUILD)


def test_missing_train_is_reported_for_training(tmp_path: Path) -> None:
    make_distribution(tmp_path, "serveonly", "[serveonly.hosting]\nserve = serveonly:start\n")
    points = discover(distributions(tmp_path), wanted="")
    with pytest.raises(EntryPointError, match="does not declare `train`"):
        require(points, FOR_TRAIN)


def test_snippet_shows_pyproject_and_setup_py_forms() -> None:
    text = snippet("my-package")
    assert '[project.entry-points."my_package.hosting"]' in text
    assert '"my_package.training": ["train=my_package.train:main"]' in text
    assert "# serve = " in text


def test_import_all_reports_the_real_import_error_of_each_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smp_runtime.entry_points import import_all

    site = tmp_path / "site"
    make_distribution(
        site,
        "brittle",
        "[brittle.training]\ntrain = brittle.train:main\n[brittle.hosting]\nserve = brittle.serve:start\n",
        "brittle",
    )
    package = site / "brittle"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "train.py").write_text("def main():\n    pass\n")
    (package / "serve.py").write_text("import flask_that_is_not_installed\n\ndef start():\n    pass\n")
    monkeypatch.syspath_prepend(str(site))
    points = discover(distributions(site))
    with pytest.raises(EntryPointError) as raised:
        import_all(points)
    message = str(raised.value)
    assert "`serve = brittle.serve:start` cannot be imported: ModuleNotFoundError" in message
    assert "flask_that_is_not_installed" in message
    assert "brittle.train:main" not in message  # train imports fine: only serve is reported

    (package / "serve.py").write_text("start = 42\n")
    for name in [module for module in sys.modules if module.startswith("brittle")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(EntryPointError, match=r"`serve = brittle\.serve:start` is a int, not a function"):
        import_all(discover(distributions(site)))
