"""Lambda handlers: module import time in a fresh interpreter, and the size of the code zip.

Each module is imported in its own new process (as a cold Lambda execution environment
would), timing only the import itself; the zip holds every lambdas/*.py, deflated, as
`make package` ships them.
"""

import io
import json
import statistics
import subprocess
import sys
import zipfile
from pathlib import Path

_IMPORT_SNIPPET = """
import json, sys, time
sys.path.insert(0, {lambdas_dir!r})
started = time.perf_counter()
import {module}
imported = time.perf_counter()
has_handler = callable(getattr({module}, "handler", None))
print(json.dumps({{"import_s": imported - started, "has_handler": has_handler}}))
"""


def handler_modules(lambdas_dir: Path) -> list[str]:
    return sorted(path.stem for path in lambdas_dir.glob("*.py") if path.stem != "common")


def import_seconds(lambdas_dir: Path, module: str, runs: int) -> dict:
    timings = []
    has_handler = False
    for _ in range(runs):
        completed = subprocess.run(
            [sys.executable, "-c", _IMPORT_SNIPPET.format(lambdas_dir=str(lambdas_dir), module=module)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if completed.returncode != 0:
            return {"module": module, "error": completed.stderr.strip().splitlines()[-1:]}
        measured = json.loads(completed.stdout.strip().splitlines()[-1])
        timings.append(measured["import_s"])
        has_handler = measured["has_handler"]
    return {"module": module, "import_s": statistics.median(timings), "has_handler": has_handler}


def zip_bytes(lambdas_dir: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(lambdas_dir.glob("*.py")):
            archive.write(path, path.name)
    return len(buffer.getvalue())


def measure(repo: Path, import_runs: int) -> dict:
    lambdas_dir = repo / "lambdas"
    modules = handler_modules(lambdas_dir)
    return {
        "handlers": [import_seconds(lambdas_dir, module, import_runs) for module in modules],
        "zip_bytes": zip_bytes(lambdas_dir),
    }
