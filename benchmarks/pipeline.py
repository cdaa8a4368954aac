"""The local end-to-end run (`python -m localmode run`): wall time, split by stage.

Local mode stamps each milestone with the seconds since it started (`[  8.3s] Deploy   ...`);
the time between two stamps is the step that the later one reports, named by its stage and the
first word of its text ("Deploy stack", "Deploy endpoint"), in order: the data-triggered rerun
shows up as its own Trigger, Source, Build, Train and Deploy steps. Start-up before the first
stamp and the report after the last are shown as their own rows.
"""

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_STAMP = re.compile(r"^\[\s*(?P<seconds>\d+(?:\.\d+)?)s\]\s+(?P<stage>\S+)\s*(?P<text>.*)$")


def parse_stages(output: str, wall_s: float) -> tuple[list[tuple[str, float]], list[str]]:
    """(step, seconds) in order, and the milestone lines that report a failure."""
    steps: list[tuple[str, float]] = []
    failures = []
    previous = None
    for line in output.splitlines():
        match = _STAMP.match(line.strip())
        if not match:
            continue
        seconds = float(match.group("seconds"))
        stage, text = match.group("stage"), match.group("text")
        if previous is None:
            steps.append(("start-up", seconds))
        else:
            first_word = text.split(" ", 1)[0][:24] if text else ""
            steps.append((f"{stage} {first_word}".strip(), max(0.0, seconds - previous)))
        previous = seconds
        if "FAIL" in text.upper():
            failures.append(f"{stage}: {text[:200]}")
    if previous is not None:
        steps.append(("report and shutdown", max(0.0, wall_s - previous)))
    return steps, failures


def measure(repo: Path, timeout_s: float) -> dict:
    command = [sys.executable, "-m", "localmode", "run"]
    if not (repo / "localmode" / "__main__.py").exists():
        return {"skipped": "local mode has no `python -m localmode run` yet"}
    with tempfile.TemporaryDirectory(prefix="bench-localmode-") as workdir:
        started = time.monotonic()
        try:
            completed = subprocess.run(
                [*command, "--workdir", workdir],
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
    stages, failures = parse_stages(completed.stdout, wall)
    return {
        "command": " ".join(["python", *command[1:]]),
        "wall_s": wall,
        "stages": stages,
        "failures": failures,
    }
