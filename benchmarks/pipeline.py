"""The local end-to-end run (`python -m localmode run`): wall time, split by stage.

Local mode prints one line per finished stage; the bench reads `<stage> ... <seconds>s`
lines from its output and times the whole process itself.
"""

import re
import subprocess
import sys
import time
from pathlib import Path

_STAGE_LINE = re.compile(r"^\W*(?P<stage>[A-Za-z][\w /()+-]*?)\W*[:.\s]+(?P<seconds>\d+(?:\.\d+)?)\s?s\b")


def parse_stages(output: str) -> list[tuple[str, float]]:
    stages = []
    for line in output.splitlines():
        match = _STAGE_LINE.match(line.strip())
        if match:
            stages.append((match.group("stage").strip(), float(match.group("seconds"))))
    return stages


def measure(repo: Path, timeout_s: float) -> dict:
    if not (repo / "localmode" / "__main__.py").exists():
        return {"skipped": "local mode has no `python -m localmode run` yet"}
    started = time.monotonic()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "localmode", "run"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"skipped": f"`python -m localmode run` did not finish within {timeout_s:.0f} s"}
    wall = time.monotonic() - started
    if completed.returncode != 0:
        tail = (completed.stdout + completed.stderr).strip().splitlines()[-5:]
        return {"skipped": f"`python -m localmode run` exited {completed.returncode}: " + " | ".join(tail)}
    return {"wall_s": wall, "stages": parse_stages(completed.stdout)}
