"""scripts/package_lambdas.py: a deterministic zip of the handlers and their shared package, under 100 KB;
handlers import only the standard library, boto3 and the shared package, never each other."""

from __future__ import annotations

import ast
import hashlib
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAMBDAS = ROOT / "lambdas"
HANDLERS = {
    "train_trigger",
    "job_events",
    "data_trigger",
    "deploy_endpoint",
    "teardown",
    "drift_check",
    "idle_guard",
}
SHARED = "common"


def source_files() -> set[str]:
    return {
        path.relative_to(LAMBDAS).as_posix()
        for path in LAMBDAS.rglob("*.py")
        if "__pycache__" not in path.parts
    }


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    return roots


def build(output: Path) -> list[str]:
    completed = subprocess.run(
        [sys.executable, "-m", "scripts.package_lambdas", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.split()


def test_zip_is_deterministic_small_and_flat(tmp_path):
    first, second = tmp_path / "one" / "lambdas.zip", tmp_path / "two" / "lambdas.zip"
    path, size, digest = build(first)
    build(second)

    assert first.read_bytes() == second.read_bytes()
    assert path == str(first)
    assert int(size) == first.stat().st_size < 100 * 1024
    assert digest == hashlib.sha256(first.read_bytes()).hexdigest()
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        assert names == sorted(names)
        assert set(names) == source_files()
        assert {name.removesuffix(".py") for name in names if "/" not in name} == HANDLERS
        assert f"{SHARED}/__init__.py" in names
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert stat.S_IMODE(info.external_attr >> 16) == 0o644
            assert archive.read(info) == (LAMBDAS / info.filename).read_bytes()


def test_handlers_import_only_the_standard_library_boto3_and_the_shared_package():
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore", SHARED}
    for module in LAMBDAS.rglob("*.py"):
        roots = imported_roots(module)
        assert roots <= allowed, f"{module.relative_to(LAMBDAS)} imports {roots - allowed}"


def test_no_handler_imports_another_and_the_shared_package_imports_no_handler():
    for module in LAMBDAS.rglob("*.py"):
        reached = imported_roots(module) & HANDLERS
        assert not reached, f"{module.relative_to(LAMBDAS)} imports the handler(s) {sorted(reached)}"
