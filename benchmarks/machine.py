"""Describe the machine and the tool versions, for the head of docs/benchmarks.md."""

import json
import os
import platform
import re
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

PACKAGES = (
    "numpy", "scikit-learn", "scipy", "uvicorn", "uvloop", "httptools", "granian",
    "flask", "gunicorn", "gevent", "pandas", "boto3",
)  # fmt: skip
_VERSIONS_SNIPPET = """
import json
from importlib import metadata
found = {}
for name in %r:
    try:
        found[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
print(json.dumps(found))
"""
ENVIRONMENT_PREFIXES = ("OPENBLAS_", "OMP_", "MKL_", "PYTHON")


def _first_line_matching(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "unknown"


def _tool_version(argv: list[str]) -> str:
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (completed.stdout + completed.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def package_versions(python: Path) -> dict[str, str]:
    """The versions of the interesting packages installed for `python`."""
    completed = subprocess.run(
        [str(python), "-c", _VERSIONS_SNIPPET % (PACKAGES,)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(completed.stdout)


def memory_gib() -> float:
    text = _first_line_matching("/proc/meminfo", "MemTotal")
    match = re.match(r"(\d+)", text)
    return int(match.group(1)) / 1024 / 1024 if match else 0.0


def describe() -> dict:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _first_line_matching("/proc/cpuinfo", "model name"),
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(memory_gib(), 1),
        "os": _first_line_matching("/etc/os-release", "PRETTY_NAME"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "wrk": _tool_version(["wrk", "-v"]),
        "nginx": _tool_version(["nginx", "-v"]),
        "environment": {
            name: value for name, value in sorted(os.environ.items()) if name.startswith(ENVIRONMENT_PREFIXES)
        },
    }


def cpu_snapshot() -> dict[str, float]:
    """Machine-wide busy and stolen CPU seconds, and what this process and its children used."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    steal = fields[7] if len(fields) > 7 else 0
    own = os.times()
    return {
        "busy_s": (sum(fields[:8]) - idle - steal) / ticks,
        "steal_s": steal / ticks,
        "own_s": own.user + own.system + own.children_user + own.children_system,
        "wall_s": time.monotonic(),
    }


def contention(before: dict[str, float], after: dict[str, float], cores: int) -> dict[str, float]:
    """Shares of the machine's CPU that other processes and the hypervisor took during the run."""
    capacity = max(1e-9, (after["wall_s"] - before["wall_s"]) * cores)
    others = (after["busy_s"] - before["busy_s"]) - (after["own_s"] - before["own_s"])
    return {
        "others_share": max(0.0, others) / capacity,
        "steal_share": (after["steal_s"] - before["steal_s"]) / capacity,
    }
