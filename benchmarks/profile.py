"""Where a server's time goes: py-spy samples its workers while wrk drives it.

The raw (collapsed-stack) output is folded into per-function self and inclusive shares of
the busy samples, which is what docs/benchmarks.md shows when a target is missed.
"""

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks import loadgen, serving

_LINE_NUMBER = re.compile(r":\d+\)$")


@dataclass(frozen=True)
class HotFunction:
    function: str
    self_share: float
    inclusive_share: float


def py_spy() -> str | None:
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


def start_recording(pid: int, seconds: int, output: Path) -> subprocess.Popen:
    binary = py_spy()
    if binary is None:
        raise RuntimeError("py-spy is not installed (benchmarks/requirements.txt)")
    argv = [
        binary, "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
        "--rate", "250", "--duration", str(seconds), "--format", "raw", "--output", str(output),
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frames(stack: str) -> list[str]:
    return [_LINE_NUMBER.sub(")", frame) for frame in stack.split(";") if not frame.startswith("process ")]


def _samples(raw: str) -> Iterator[tuple[list[str], int]]:
    """(frames, sample count) of each stack line of py-spy's raw output."""
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if stack and count_text.isdigit():
            yield _frames(stack), int(count_text)


def summarize(raw: str, top: int = 15) -> tuple[int, list[HotFunction]]:
    """Total busy samples and the functions with the largest self time."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for frames, count in _samples(raw):
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if total == 0:
        return 0, []
    hot = [
        HotFunction(function, count / total, inclusive[function] / total)
        for function, count in own.most_common(top)
    ]
    return total, hot


# A sample goes to the first of these categories with a matching frame anywhere in its stack
# (most specific first: sklearn's validation calling into inspect is still "input validation",
# pandas building a frame inside read_csv is "request parsing").
SPECIFIC = (
    ("scikit-learn input validation", ("check_array", "validate_data", "_validate_X_predict", "narwhals/")),
    ("scikit-learn predict", ("sklearn/",)),
    ("request parsing", ("decode_", "_rows (benchmarks/ceiling", "pandas/io/", "read_csv")),
    ("response encoding", ("encode_", "to_csv", "DataFrame.__init__")),
    ("flask + werkzeug", ("flask/", "werkzeug/")),
    ("gunicorn + gevent", ("gunicorn/", "gevent/")),
)
# Otherwise the innermost of these wins: the server's loop calls the app, which calls back into it.
NESTED = (
    ("HTTP server + event loop", ("uvicorn/", "asyncio/", "uvloop", "httptools", "granian")),
    ("the app's own code", ("smp_runtime/", "benchmarks/")),
)


def categorize(raw: str) -> list[tuple[str, float]]:
    """Share of busy samples per category, largest first."""
    counts: Counter[str] = Counter()
    total = 0
    for frames, count in _samples(raw):
        total += count
        counts[_category(frames)] += count
    if total == 0:
        return []
    return [(category, count / total) for category, count in counts.most_common()]


def _category(frames: list[str]) -> str:
    if not frames:
        return "native threads (no Python frame, e.g. granian's Rust runtime)"
    for category, markers in SPECIFIC:
        if any(marker in frame for frame in frames for marker in markers):
            return category
    for frame in reversed(frames):
        for category, markers in NESTED:
            if any(marker in frame for marker in markers):
                return category
    return "other"


def profile_under_load(
    contender: serving.Contender,
    payload_key: str,
    script: Path,
    concurrency: int,
    seconds: float,
    log_dir: Path,
) -> dict:
    """Sample a fresh server of `contender` for `seconds` while wrk drives it at `concurrency`."""
    output = log_dir / f"{contender.key}-profile.txt"
    with serving.start(contender, log_dir) as running:
        loadgen.run_wrk(running.port, script, concurrency, 1)
        recorder = start_recording(running.process.pid, seconds, output)
        load = loadgen.run_wrk(running.port, script, concurrency, seconds + 1)
        recorder.wait(timeout=seconds + 30)
    raw = output.read_text() if output.exists() else ""
    samples, hot = summarize(raw)
    return {
        "server": contender.key,
        "payload": payload_key,
        "concurrency": concurrency,
        "requests_per_s": load.requests_per_s,
        "samples": samples,
        "self": [asdict(function) for function in hot],
        "categories": categorize(raw),
    }
