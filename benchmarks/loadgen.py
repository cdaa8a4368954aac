"""Drive a server with wrk (its own process) and read back throughput, latency and errors.

A Lua script sets the POST body and headers and, when the run ends, prints one JSON line
with wrk's exact counters and latency percentiles (microseconds).
"""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks.payloads import Payload

MARKER = "WRK_RESULT "

_LUA = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "{content_type}"
wrk.headers["Accept"] = "{accept}"
local body_file = io.open("{body_path}", "rb")
wrk.body = body_file:read("*a")
body_file:close()

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{marker}{{"requests": %d, "duration_us": %d, "p50_us": %.1f, "p99_us": %.1f, "mean_us": %.1f, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


class LoadGeneratorMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class LoadResult:
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    non_2xx: int


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise LoadGeneratorMissing(
            "wrk is not installed: run `make system-deps` as root (Debian package wrk)"
        )
    return found


def write_script(payload: Payload, directory: Path) -> Path:
    body_path = directory / f"{payload.key}.body"
    body_path.write_bytes(payload.body)
    script = directory / f"{payload.key}.lua"
    script.write_text(
        _LUA.format(
            content_type=payload.content_type,
            accept=payload.accept,
            body_path=body_path,
            marker=MARKER,
        )
    )
    return script


def run_wrk(port: int, script: Path, connections: int, duration_s: int) -> LoadResult:
    """wrk takes whole seconds only."""
    threads = min(2, connections)
    argv = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, duration_s)}s",
        "--timeout", "5s",
        "--latency",
        "-s", str(script),
        f"http://127.0.0.1:{port}/invocations",
    ]  # fmt: skip
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30, check=False)
    return parse_output(completed.stdout, completed.stderr)


def parse_output(stdout: str, stderr: str = "") -> LoadResult:
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
            break
    else:
        raise RuntimeError(f"wrk printed no result line; stdout: {stdout[-500:]!r} stderr: {stderr[-500:]!r}")
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    seconds = raw["duration_us"] / 1e6
    return LoadResult(
        requests=raw["requests"],
        requests_per_s=raw["requests"] / seconds if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=socket_errors + raw["status"],
        non_2xx=raw["status"],
    )
