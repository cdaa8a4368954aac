"""scripts/package_lambdas.py: a deterministic zip of every handler module, under 100 KB."""

from __future__ import annotations

import ast
import hashlib
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = {
    "common.py",
    "train_trigger.py",
    "job_events.py",
    "data_trigger.py",
    "deploy_endpoint.py",
    "teardown.py",
}


def build(output: Path) -> list[str]:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "package_lambdas.py"), "--output", str(output)],
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
        assert set(names) == HANDLERS == {p.name for p in (ROOT / "lambdas").glob("*.py")}
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert stat.S_IMODE(info.external_attr >> 16) == 0o644
            assert archive.read(info) == (ROOT / "lambdas" / info.filename).read_bytes()


def test_handlers_import_only_the_standard_library_boto3_and_each_other():
    own = {name.removesuffix(".py") for name in HANDLERS}
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore"} | own
    for module in (ROOT / "lambdas").glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{module.name} imports {roots - allowed}"
