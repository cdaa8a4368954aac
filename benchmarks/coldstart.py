"""What a cold start is made of: the wall time of fresh interpreters doing one step each.

Run with the built-in server's interpreter, so the numbers are what its `serve` pays before
the first /ping can be answered; each step includes the interpreter's own start.
"""

import statistics
import subprocess
import time
from pathlib import Path

INTERPRETER = "interpreter start"
MODEL_LIBRARIES = "import sklearn.tree + joblib (unpickling the model needs them)"
SERVER_STEPS = (
    "import numpy",
    "import uvicorn + uvloop + httptools",
    "find the entry points (importlib.metadata)",
)
STEPS = (
    (INTERPRETER, "pass"),
    (SERVER_STEPS[0], "import numpy"),
    (SERVER_STEPS[1], "import uvicorn.server, uvloop, uvicorn.protocols.http.httptools_impl"),
    (MODEL_LIBRARIES, "import sklearn.tree, joblib"),
    (SERVER_STEPS[2], "from smp_runtime.entry_points import discover; discover()"),
    ("load the model (joblib.load, imports included)", "import joblib, sys; joblib.load(sys.argv[1])"),
)


def step_seconds(python: Path, code: str, artifact: Path, runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(python), "-c", code, str(artifact)], check=True, capture_output=True, timeout=60)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def parts(python: Path, artifact: Path, runs: int) -> list[tuple[str, float]]:
    return [(label, step_seconds(python, code, artifact, runs)) for label, code in STEPS]
