"""Micro-batching settings: environment, the package's [tool.sagemaker-pipeline] table, precedence, errors."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from smp_runtime import cli
from smp_runtime.entry_points import UserEntryPoints
from smp_runtime.serving import server, settings
from smp_runtime.serving.app import InvocationsApp
from smp_runtime.serving.batching import BatchingApp
from smp_runtime.serving.settings import BatchSettings, SettingsError

from .conftest import FakeEntryPoint

SIZE = "MODEL_SERVER_MAX_BATCH_SIZE"
DELAY = "MODEL_SERVER_MAX_BATCH_DELAY_MS"


@pytest.fixture(autouse=True)
def no_batching_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SIZE, raising=False)
    monkeypatch.delenv(DELAY, raising=False)


def make_distribution(site: Path, source: Path | None, pyproject: str | None, name: str = "batchy") -> Path:
    """An installed distribution `name` (with a RECORD), pip-installed from `source` when given."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{name}.hosting]\nmodel_fn = {name}.serving:model_fn\npredict_fn = {name}.serving:predict_fn\n"
        f"[{name}.training]\ntrain = {name}.train:main\n"
    )
    (info / "top_level.txt").write_text(f"{name}\n")
    (info / "RECORD").write_text(f"{info.name}/METADATA,,\n{info.name}/RECORD,,\n")
    if source is not None:
        source.mkdir(parents=True, exist_ok=True)
        if pyproject is not None:
            (source / "pyproject.toml").write_text(pyproject)
        (info / "direct_url.json").write_text(json.dumps({"url": source.as_uri(), "dir_info": {}}))
    return info


def distribution(site: Path, name: str = "batchy") -> metadata.Distribution:
    return next(d for d in metadata.distributions(path=[str(site)]) if d.metadata["Name"] == name)


TABLE = (
    '[project]\nname = "batchy"\n\n[tool.sagemaker-pipeline]\nmax-batch-size = 32\nmax-batch-delay-ms = 2\n'
)


def test_batching_is_off_by_default() -> None:
    found = settings.batch_settings()
    assert found == BatchSettings(0, 0.0, "default")
    assert not found.enabled
    assert found.describe() == "micro-batching off"


@pytest.mark.parametrize(("size", "enabled"), [("0", False), ("1", False), ("2", True), (" 32 ", True)])
def test_the_environment_switches_batching_on_above_one(
    monkeypatch: pytest.MonkeyPatch, size: str, enabled: bool
) -> None:
    monkeypatch.setenv(SIZE, size)
    found = settings.batch_settings()
    assert (found.max_batch_size, found.enabled, found.max_delay_ms) == (int(size), enabled, 0.0)


def test_the_environment_overrides_the_package_table_value_by_value(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {"max-batch-size": 32, "max-batch-delay-ms": 2.0}
    found = settings.batch_settings(table, "pyproject.toml")
    assert (found.max_batch_size, found.max_delay_ms, found.source) == (32, 2.0, "pyproject.toml")
    assert found.describe() == "micro-batching up to 32 requests, up to 2 ms delay (from pyproject.toml)"
    monkeypatch.setenv(SIZE, "0")
    found = settings.batch_settings(table, "pyproject.toml")
    assert (found.max_batch_size, found.max_delay_ms, found.enabled) == (0, 2.0, False)
    assert found.source == f"{SIZE}, pyproject.toml"
    monkeypatch.setenv(SIZE, "8")
    monkeypatch.setenv(DELAY, "0.5")
    found = settings.batch_settings(table, "pyproject.toml")
    assert (found.max_batch_size, found.max_delay_ms, found.source) == (8, 0.5, f"{SIZE}, {DELAY}")
    assert found.describe().startswith("micro-batching up to 8 requests, up to 0.5 ms delay")
    monkeypatch.setenv(DELAY, "0")
    assert "adaptive" in settings.batch_settings(table, "pyproject.toml").describe()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (SIZE, "many", "MODEL_SERVER_MAX_BATCH_SIZE='many' must be an integer"),
        (SIZE, "2.5", "must be an integer"),
        (SIZE, "-1", "MODEL_SERVER_MAX_BATCH_SIZE='-1' must be 0 or more"),
        (DELAY, "soon", "MODEL_SERVER_MAX_BATCH_DELAY_MS='soon' must be a number of milliseconds"),
        (DELAY, "-1", "must be between 0 and 1000 milliseconds"),
        (DELAY, "5000", "must be between 0 and 1000 milliseconds"),
        (DELAY, "nan", "must be a number of milliseconds"),
    ],
)
def test_invalid_environment_values_say_what_to_set(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        settings.batch_settings()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"max-batch-size": "32"},
            r"\[tool.sagemaker-pipeline\] max-batch-size in p.toml must be an integer",
        ),
        ({"max-batch-size": True}, "must be an integer"),
        ({"max-batch-size": -2}, "must be 0 or more"),
        ({"max-batch-delay-ms": "2ms"}, "max-batch-delay-ms in p.toml must be a number of milliseconds"),
        ({"max-batch-delay-ms": 2000}, "must be between 0 and 1000 milliseconds"),
        (["max-batch-size"], r"\[tool.sagemaker-pipeline\] in p.toml must be a table"),
    ],
)
def test_invalid_table_values_say_what_to_write(table: Any, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings.parse_table(table, "p.toml")


def test_unknown_table_keys_are_left_to_others() -> None:
    assert settings.parse_table({"max-batch-size": 4, "something-else": "x"}, "p.toml") == {
        "max-batch-size": 4
    }


def test_the_table_is_read_from_the_folder_the_package_was_installed_from(tmp_path: Path) -> None:
    make_distribution(tmp_path / "site", tmp_path / "src", TABLE)
    table, source = settings.package_table(distribution(tmp_path / "site"))
    assert table == {"max-batch-size": 32, "max-batch-delay-ms": 2.0}
    assert source == str(tmp_path / "src" / "pyproject.toml")


def test_without_sources_or_a_recorded_copy_there_is_no_table(tmp_path: Path) -> None:
    make_distribution(tmp_path / "site", None, None)
    assert settings.package_table(distribution(tmp_path / "site")) == ({}, "")
    make_distribution(tmp_path / "site2", tmp_path / "gone", TABLE)
    (tmp_path / "gone" / "pyproject.toml").unlink()
    assert settings.package_table(distribution(tmp_path / "site2")) == ({}, "")


def test_the_build_records_the_table_for_the_image_that_keeps_no_sources(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = make_distribution(site, tmp_path / "src", TABLE + 'other-tool-setting = "kept out"\n')
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings.metadata, "distribution", lambda name: distribution(site, name))
        done = settings.record_package_table("batchy")
    assert done is not None and "recorded in" in done
    assert json.loads((info / "sagemaker_pipeline.json").read_text()) == {
        "max-batch-delay-ms": 2,
        "max-batch-size": 32,
    }
    assert f"{info.name}/sagemaker_pipeline.json,,\n" in (info / "RECORD").read_text()
    (tmp_path / "src" / "pyproject.toml").unlink()  # the final image: no sources
    table, source = settings.package_table(distribution(site))
    assert (table, source) == (
        {"max-batch-size": 32, "max-batch-delay-ms": 2.0},
        "sagemaker_pipeline.json of batchy",
    )


def test_invalid_recorded_copy_stops_serve_with_its_name(tmp_path: Path) -> None:
    info = make_distribution(tmp_path / "site", None, None)
    (info / "sagemaker_pipeline.json").write_text('{"max-batch-size": "lots"}')
    with pytest.raises(SettingsError, match=r"max-batch-size in sagemaker_pipeline\.json of batchy must be"):
        settings.package_table(distribution(tmp_path / "site"))


def test_smp_check_for_build_records_the_table_and_fails_on_invalid_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    info = make_distribution(site, tmp_path / "src", TABLE)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("SMP_USER_PACKAGE", "batchy")
    assert cli.check(["--for", "serve", "--no-import"]) == 0
    assert not (info / "sagemaker_pipeline.json").exists()  # only the build records
    assert cli.check(["--for", "build", "--no-import"]) == 0
    assert "recorded in" in capsys.readouterr().out
    assert json.loads((info / "sagemaker_pipeline.json").read_text())["max-batch-size"] == 32
    (tmp_path / "src" / "pyproject.toml").write_text(TABLE.replace("= 32", '= "32"'))
    assert cli.check(["--for", "build", "--no-import"]) == cli.EXIT_ENTRY_POINT_ERROR
    assert "max-batch-size in" in capsys.readouterr().err


def run_server_capturing_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    captured: dict[str, Any] = {}

    def fake_run_workers(app: Any, host: str, port: int, workers: int, graceful: int) -> int:
        captured["app"] = app
        return 0

    from smp_runtime.serving import workers

    monkeypatch.setattr(workers, "run_workers", fake_run_workers)
    monkeypatch.setattr(server, "freeze_loaded_objects", lambda: None)  # keeps pytest collectable
    points = UserEntryPoints(
        "not-installed",
        {
            "model_fn": FakeEntryPoint(lambda model_dir: "model"),
            "predict_fn": FakeEntryPoint(lambda data, model: data),
        },  # type: ignore[dict-item]
    )
    from smp_runtime.paths import SageMakerPaths

    assert server.run_builtin_server(points, SageMakerPaths(tmp_path)) == 0
    return captured["app"]


def test_with_batching_off_the_workers_run_the_plain_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert type(run_server_capturing_app(monkeypatch, tmp_path)) is InvocationsApp
    monkeypatch.setenv(SIZE, "1")
    assert type(run_server_capturing_app(monkeypatch, tmp_path)) is InvocationsApp
    monkeypatch.setenv(SIZE, "4")
    app = run_server_capturing_app(monkeypatch, tmp_path)
    assert type(app) is BatchingApp and app.batcher.max_batch_size == 4


def test_invalid_batching_settings_stop_serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SIZE, "lots")
    with pytest.raises(SystemExit, match="serve: MODEL_SERVER_MAX_BATCH_SIZE='lots' must be an integer"):
        run_server_capturing_app(monkeypatch, tmp_path)


def test_only_the_batching_app_turns_uvicorns_lifespan_on(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from smp_runtime.serving import workers
    from smp_runtime.serving.app import Model

    configs: list[Any] = []

    class FakeServer:
        def __init__(self, config: Any) -> None:
            configs.append(config)

        def run(self, sockets: Any) -> None:
            pass

    monkeypatch.setattr(uvicorn, "Server", FakeServer)
    model = Model(None, lambda data, model: data)
    workers.serve_forever(InvocationsApp(model, 100), None, 5)  # type: ignore[arg-type]
    workers.serve_forever(BatchingApp(model, 100, BatchSettings(8)), None, 5)  # type: ignore[arg-type]
    assert [config.lifespan for config in configs] == ["off", "on"]
