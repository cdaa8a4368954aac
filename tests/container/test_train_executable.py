"""`train` and `smp-check` as processes against a temporary /opt/ml tree (SAGEMAKER_BASE_DIR)."""

from __future__ import annotations

import re
import signal
import subprocess
import textwrap
from pathlib import Path

import joblib
import pytest

from .conftest import Installed

METRIC_REGEX = r"validation:accuracy=([0-9.]+)"  # the template's default MetricDefinition


def run(
    installed: Installed, name: str, base: Path, *packages: str, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [installed.executable(name)],
        env=installed.environment(base, *packages, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_example_trains_writes_its_model_and_publishes_the_metric(installed: Installed, opt_ml: Path) -> None:
    result = run(installed, "train", opt_ml, "iris_model")
    assert result.returncode == 0, result.stderr
    assert (opt_ml / "output" / "success").exists()
    assert not (opt_ml / "output" / "failure").exists()
    accuracy = float(re.search(METRIC_REGEX, result.stdout).group(1))
    assert 0.85 <= accuracy <= 1.0
    model = joblib.load(opt_ml / "model" / "model.joblib")
    assert model.get_params()["max_depth"] == 4  # from hyperparameters.json, a string there
    assert model.predict([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]).tolist() == [0, 2]


def test_seed_style_package_trains_through_the_same_executable(installed: Installed, opt_ml: Path) -> None:
    result = run(installed, "train", opt_ml, "iris_seed")
    assert result.returncode == 0, result.stderr
    assert "running iris_seed.train:entry_point from iris-seed" in result.stdout
    assert (opt_ml / "model" / "model.joblib").exists()


def test_failing_training_writes_the_reason_first_and_exits_non_zero(
    installed: Installed, opt_ml: Path
) -> None:
    result = run(installed, "train", opt_ml, "iris_failing")
    assert result.returncode == 1
    failure = (opt_ml / "output" / "failure").read_text()
    assert failure.splitlines()[0] == (
        "RuntimeError: iris_failing refuses to train: "
        "this example fails on purpose to exercise the failure path"
    )
    assert "Last frames (most recent last):" in failure and "iris_failing/train.py" in failure
    assert len(failure) < 1024  # SageMaker's FailureReason keeps 1024 characters: the frames fit
    assert not (opt_ml / "output" / "success").exists()
    assert "train: failed: RuntimeError" in result.stderr


def test_bad_hyperparameter_fails_with_a_readable_reason(installed: Installed, tmp_path: Path) -> None:
    from .conftest import make_opt_ml

    base = make_opt_ml(tmp_path / "ml", {"max_depth": "deep"})
    result = run(installed, "train", base, "iris_model")
    assert result.returncode == 1
    first_line = (base / "output" / "failure").read_text().splitlines()[0]
    assert first_line == "HyperparameterError: hyperparameter 'max_depth' = 'deep' is not a valid int"


def test_missing_channel_fails_with_a_readable_reason(installed: Installed, opt_ml: Path) -> None:
    for path in (opt_ml / "input" / "data" / "train").iterdir():
        path.unlink()
    result = run(installed, "train", opt_ml, "iris_model")
    assert result.returncode == 1
    assert "FileNotFoundError: no *.csv files in" in (opt_ml / "output" / "failure").read_text()


def test_missing_entry_points_fail_training_with_the_snippet(installed: Installed, opt_ml: Path) -> None:
    result = run(installed, "train", opt_ml)
    assert result.returncode == 1
    failure = (opt_ml / "output" / "failure").read_text()
    assert failure.startswith("No installed distribution declares a `train` entry point")
    assert '[project.entry-points."your_package.training"]' in failure


def test_ambiguous_entry_points_fail_training_and_name_both_packages(
    installed: Installed, opt_ml: Path
) -> None:
    result = run(installed, "train", opt_ml, "iris_model", "iris_seed")
    assert result.returncode == 1
    failure = (opt_ml / "output" / "failure").read_text()
    assert failure.startswith("Entry points are ambiguous")
    assert "iris-model" in failure and "iris-seed" in failure
    chosen = run(installed, "train", opt_ml, "iris_model", "iris_seed", SMP_USER_PACKAGE="iris-seed")
    assert chosen.returncode == 0, chosen.stderr


@pytest.mark.parametrize(
    ("packages", "code", "expected"),
    [
        (("iris_model",), 0, "smp-check: OK iris-model: train=iris_model.train:main"),
        (("iris_seed",), 0, "[own server (serve)]"),
        ((), 2, '[project.entry-points."your_package.hosting"]'),
        (("iris_model", "iris_seed"), 2, "Entry points are ambiguous"),
    ],
)
def test_smp_check_exit_code_and_message(
    installed: Installed, tmp_path: Path, packages: tuple[str, ...], code: int, expected: str
) -> None:
    result = run(installed, "smp-check", tmp_path, *packages)
    assert result.returncode == code
    assert expected in result.stdout + result.stderr


def fabricate_package(site: Path, name: str, source: str) -> Path:
    """A tiny installed distribution `name` whose module `name` holds `source` and declares train."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{name}.py").write_text(source)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{name}.training]\ntrain = {name}:main\n")
    (info / "top_level.txt").write_text(name)
    return site


def train_fabricated(
    installed: Installed, opt_ml: Path, tmp_path: Path, name: str, source: str
) -> subprocess.CompletedProcess[str]:
    """`train` with a fabricated package `name` (module source `source`) ahead on the path."""
    site = fabricate_package(tmp_path / "site", name, source)
    env = installed.environment(opt_ml)
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"
    return subprocess.run(
        [installed.executable("train")], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_non_zero_sys_exit_is_a_failure(installed: Installed, opt_ml: Path, tmp_path: Path) -> None:
    result = train_fabricated(
        installed, opt_ml, tmp_path, "quitter", "import sys\ndef main():\n    sys.exit(3)\n"
    )
    assert result.returncode == 1
    failure = (opt_ml / "output" / "failure").read_text()
    assert failure.startswith("training exited with status 3 and printed nothing")
    assert str(opt_ml / "output" / "failure") in failure  # says where to put the reason


def test_a_sys_exit_while_handling_an_error_reports_that_error(
    installed: Installed, opt_ml: Path, tmp_path: Path
) -> None:
    source = "import sys\ndef main():\n    try:\n        {}['alpha']\n"
    source += "    except KeyError:\n        sys.exit(255)\n"
    result = train_fabricated(installed, opt_ml, tmp_path, "handler", source)
    assert result.returncode == 1
    failure = (opt_ml / "output" / "failure").read_text()
    assert failure.startswith("training exited with status 255 while handling KeyError: 'alpha'")


def test_a_sys_exit_after_printing_reports_the_last_lines(
    installed: Installed, opt_ml: Path, tmp_path: Path
) -> None:
    source = "import sys\ndef main():\n    print('loading data')\n"
    source += "    print('no rows in the channel', file=sys.stderr)\n    sys.exit(2)\n"
    train_fabricated(installed, opt_ml, tmp_path, "printer", source)
    failure = (opt_ml / "output" / "failure").read_text()
    assert (
        failure
        == "training exited with status 2; its last output lines:\nloading data\nno rows in the channel"
    )


def test_the_training_codes_own_failure_file_is_kept(
    installed: Installed, opt_ml: Path, tmp_path: Path
) -> None:
    source = textwrap.dedent(
        """\
        import os, sys, traceback
        def main():
            try:
                raise ValueError('labels are missing')
            except Exception as error:
                with open(os.path.join(os.environ['SM_OUTPUT_DIR'], 'failure'), 'w') as out:
                    out.write('Exception during training: ' + str(error) + '\\n' + traceback.format_exc())
                sys.exit(255)
        """
    )
    result = train_fabricated(installed, opt_ml, tmp_path, "classic", source)
    assert result.returncode == 1
    failure = (opt_ml / "output" / "failure").read_text()
    assert failure.startswith("Exception during training: labels are missing\nTraceback")
    assert "exited with status" not in failure
    assert "train: failed: Exception during training: labels are missing" in result.stderr


def test_training_that_writes_no_model_fails(installed: Installed, opt_ml: Path, tmp_path: Path) -> None:
    result = train_fabricated(
        installed, opt_ml, tmp_path, "forgetful", "def main():\n    print('trained, not saved')\n"
    )
    assert result.returncode == 1
    failure = (opt_ml / "output" / "failure").read_text()
    assert failure.startswith(f"EmptyModelError: training returned but wrote no files to {opt_ml / 'model'}")
    assert not (opt_ml / "output" / "success").exists()


def test_sigterm_during_training_writes_the_failure_and_exits_143(
    installed: Installed, opt_ml: Path, tmp_path: Path
) -> None:
    source = "import time\ndef main():\n    print('sleeping', flush=True)\n    time.sleep(120)\n"
    site = fabricate_package(tmp_path / "site", "sleeper", source)
    env = installed.environment(opt_ml)
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"
    process = subprocess.Popen([installed.executable("train")], env=env, stdout=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:
            if line.strip() == "sleeping":
                break
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 143
    finally:
        process.kill()
        process.wait()
    failure = (opt_ml / "output" / "failure").read_text()
    assert failure.startswith("TrainingStopped: training stopped by signal 15")
