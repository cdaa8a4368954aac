"""What a package needs beyond local mode's Python: dependencies, Debian packages, its own server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from localmode.pipeline import package_needs
from localmode.pipeline.build import BuildError, _container_builder, check_debian_packages, process_runtime

CLASSIC_TREE = Path(__file__).parent / "packages" / "classic_tree"


def test_unsatisfied_keeps_only_what_this_environment_lacks():
    wanted = [
        "numpy",  # installed
        "numpy<1",  # installed, but not this version
        "surely-not-installed-package-xyz>=1",
        'colorama; sys_platform == "win32"',  # not for this platform
        'pytest; extra == "test"',  # an extra nobody asked for
    ]
    assert package_needs.unsatisfied(wanted) == ["numpy<1", "surely-not-installed-package-xyz>=1"]


def test_an_invalid_dependency_is_named():
    with pytest.raises(package_needs.PackageNeedsError, match="invalid dependency 'numpy >>> 1'"):
        package_needs.unsatisfied(["numpy >>> 1"])


def test_missing_debian_packages_are_named_with_the_install_line(tmp_path: Path):
    package = tmp_path / "needy"
    package.mkdir()
    (package / "pyproject.toml").write_text(
        '[project]\nname = "needy"\n\n[tool.sagemaker-pipeline]\n'
        'debian-packages = ["coreutils", "no-such-pkg-xyz"]\n'
    )
    with pytest.raises(BuildError) as refused:
        check_debian_packages(package)
    message = str(refused.value)
    assert "not installed here: no-such-pkg-xyz" in message and "coreutils" not in message
    assert "apt-get install -y no-such-pkg-xyz" in message and "--image" in message


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('debian-packages = "nginx"', 'must be a list of package names, e.g. debian-packages = ["nginx"]'),
        ('debian-packages = ["nginx=1.22"]', "'nginx=1.22' is not a Debian package name"),
        ("debian-packages = [1]", "must be a list of package names"),
    ],
)
def test_a_malformed_debian_packages_key_fails_the_build_clearly(tmp_path: Path, table: str, expected: str):
    builder = _container_builder()
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\n\n[tool.sagemaker-pipeline]\n{table}\n')
    with pytest.raises(builder.BuildError, match="debian-packages in") as refused:
        builder.debian_packages(tmp_path)
    assert expected in str(refused.value)


def test_the_image_context_carries_the_debian_packages_and_the_package_dependencies(tmp_path: Path):
    builder = _container_builder()
    context = builder.assemble_context(CLASSIC_TREE, tmp_path / "context")
    assert (context / "debian-packages.txt").read_text() == "nginx\n"
    assert builder.package_requirements(CLASSIC_TREE) == ["numpy", "scikit-learn", "flask", "gunicorn"]
    assert builder.build_requirements(CLASSIC_TREE) == ["setuptools>=61"]
    dockerfile = (context / "Dockerfile").read_text()
    assert "xargs -a /tmp/debian-packages.txt apt-get install -y --no-install-recommends" in dockerfile


def test_a_build_folder_runs_with_its_dependencies_and_console_scripts_on_the_paths(tmp_path: Path):
    tree = tmp_path / "tree"
    info = tree / "own_server-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: own-server\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[own_server.hosting]\nserve = own_server:start\n")
    (tree / ".deps" / "bin").mkdir(parents=True)
    runtime = process_runtime(tree)
    assert runtime.own_server
    argv, env = runtime.command("serve", tmp_path / "ml", 18080, {})
    assert env["PATH"].split(":")[:2] == [str(tree / "bin"), str(tree / ".deps" / "bin")]
    assert env["PYTHONPATH"] == f"{tree}:{tree / '.deps'}"
    assert argv[:2] == [
        sys.executable,
        str(Path(package_needs.__file__).parents[1] / "aws/sagemaker/sandbox.py"),
    ]
    assert argv[argv.index("--forward") + 1] == "18080" and argv[-1] == str(tree / "bin" / "serve")
    assert "SAGEMAKER_BIND_TO_PORT" not in env  # the server listens on 8080 in its own network

    builtin = process_runtime(tmp_path / "empty")
    argv, env = builtin.command("serve", tmp_path / "ml", 18080, {})
    assert "--forward" not in argv and env["SAGEMAKER_BIND_TO_PORT"] == "18080"
