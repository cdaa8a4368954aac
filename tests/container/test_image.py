"""The image itself, built with podman (design section 9): train with a mounted /opt/ml, serve on a port.

Skips, saying why, only when the container engine cannot start here.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .conftest import CONTAINER, EXAMPLES, free_port, make_opt_ml, write_package_without_entry_points

pytestmark = pytest.mark.container

IMAGE_TAG = "localhost/smp-test-iris:latest"


def _engine_problem() -> str | None:
    import build_image

    if shutil.which("podman") is None:
        return "podman is not installed (scripts/install-system-deps.sh installs it as root)"
    probe = subprocess.run(
        ["podman", "info"], env=build_image.engine_environment(), capture_output=True, text=True, timeout=120
    )
    if probe.returncode != 0:
        return f"podman cannot start: {(probe.stderr or probe.stdout).strip()[-500:]}"
    return None


def podman(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    import build_image

    return subprocess.run(
        ["podman", *args],
        env=build_image.engine_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def image() -> str:
    problem = _engine_problem()
    if problem:
        print(f"container tests skipped: {problem}")
        pytest.skip(problem)
    import build_image

    tag = build_image.build(EXAMPLES / "iris_model", IMAGE_TAG)
    # The image id, not the tag: test runs in other checkouts rebuild the same tag from their own tree.
    return podman("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip() or tag


@pytest.fixture(scope="module")
def trained(
    image: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    base = make_opt_ml(tmp_path_factory.mktemp("image") / "opt-ml")
    result = podman("run", "--rm", "-v", f"{base}:/opt/ml", image, "train")
    return base, result


def test_train_in_the_image_writes_the_model(trained: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    base, result = trained
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validation:accuracy=" in result.stdout
    assert (base / "model" / "model.joblib").is_file()
    assert (base / "output" / "success").exists()


@pytest.fixture
def served(image: str, trained: tuple[Path, subprocess.CompletedProcess[str]]) -> Iterator[str]:
    base, _ = trained
    port = free_port()
    started = podman(
        "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8080", "-v", f"{base}:/opt/ml", image, "serve"
    )
    assert started.returncode == 0, started.stderr
    container = started.stdout.strip()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.3)
        else:
            logs = podman("logs", container).stdout
            raise AssertionError(f"the served image never answered /ping:\n{logs}")
        yield url
    finally:
        podman("stop", "--time", "10", container)


def test_serve_in_the_image_predicts(served: str) -> None:
    response = requests.post(
        f"{served}/invocations",
        data=b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3",
        headers={"Content-Type": "text/csv", "Accept": "application/json"},
        timeout=10,
    )
    assert (response.status_code, response.json()) == (200, [0, 2])
    bad = requests.post(
        f"{served}/invocations", data=b"a,b", headers={"Content-Type": "text/csv"}, timeout=10
    )
    assert bad.status_code == 400


def test_final_image_has_no_build_leftovers(image: str) -> None:
    result = podman(
        "run",
        "--rm",
        image,
        "sh",
        "-c",
        "command -v gcc cc make; ls /build /root/.cache/pip 2>&1; command -v train",
    )
    assert "/opt/venv/bin/train" in result.stdout
    assert "gcc" not in result.stdout
    assert result.stdout.count("No such file or directory") == 2


def test_build_fails_with_the_snippet_when_entry_points_are_missing(image: str, tmp_path: Path) -> None:
    import build_image

    package = write_package_without_entry_points(tmp_path / "plain")
    with pytest.raises(build_image.BuildError) as raised:
        build_image.build(package, "localhost/smp-test-plain:latest")
    assert "No installed distribution declares a `train` entry point" in str(raised.value)
    assert '[project.entry-points."your_package.training"]' in str(raised.value)
    assert podman("image", "exists", "localhost/smp-test-plain:latest").returncode != 0


def test_podman_settings_file_is_the_one_in_the_repository() -> None:
    import build_image

    assert build_image.PODMAN_CONF == CONTAINER / "podman-containers.conf"
    text = build_image.PODMAN_CONF.read_text()
    assert 'runtime = "runc"' in text and "nofile=1024:1024" in text


# No command: the ENTRYPOINT (smp-dispatch) picks train or serve from what SageMaker mounts.


def test_no_command_with_a_training_layout_trains(image: str, tmp_path: Path) -> None:
    base = make_opt_ml(tmp_path / "opt-ml")
    result = podman("run", "--rm", "-v", f"{base}:/opt/ml", image)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "running `train`" in result.stderr
    assert (base / "model" / "model.joblib").is_file()
    assert (base / "output" / "success").exists()


def test_no_command_with_a_hosting_layout_serves_and_stops_on_sigterm(
    image: str, trained: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    base, _ = trained
    port = free_port()
    # An endpoint gets only the model: no input/config, exactly like SageMaker hosting.
    started = podman(
        "run", "-d", "-p", f"127.0.0.1:{port}:8080", "-v", f"{base / 'model'}:/opt/ml/model", image
    )
    assert started.returncode == 0, started.stderr
    container = started.stdout.strip()
    try:
        deadline = time.monotonic() + 120
        answered = None
        while time.monotonic() < deadline and answered is None:
            try:
                answered = requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code
            except requests.ConnectionError:
                time.sleep(0.3)
        assert answered == 200, podman("logs", container).stdout
        response = requests.post(
            f"http://127.0.0.1:{port}/invocations",
            data=b"5.1,3.5,1.4,0.2",
            headers={"Content-Type": "text/csv", "Accept": "application/json"},
            timeout=10,
        )
        assert (response.status_code, response.json()) == (200, [0])
        # SIGTERM reaches the server itself (exec'd as PID 1): a clean exit, not SIGKILL (137) later.
        podman("stop", "--time", "30", container)
        exit_code = podman("inspect", "--format", "{{.State.ExitCode}}", container).stdout.strip()
        assert exit_code in ("0", "143"), exit_code
        logs = podman("logs", container)
        assert "running `serve`" in logs.stdout + logs.stderr
    finally:
        podman("rm", "-f", container)


def test_no_command_and_no_sagemaker_layout_says_how_to_run_it(image: str) -> None:
    result = podman("run", "--rm", image)
    assert result.returncode == 2
    assert "docker run IMAGE train" in result.stderr and "docker run IMAGE serve" in result.stderr


def test_any_other_command_still_runs(image: str) -> None:
    result = podman("run", "--rm", image, "python3", "-c", "print(1)")
    assert (result.returncode, result.stdout, result.stderr) == (0, "1\n", "")
