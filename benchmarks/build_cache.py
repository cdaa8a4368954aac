"""`python -m benchmarks.build_cache`: a code-only rebuild against a cold build, with podman.

    python -m benchmarks.build_cache                 # prints the markdown section for docs/benchmarks.md

`make bench` (benchmarks/run.py) runs it too when podman is installed (one round).

Cold: `podman build --no-cache` of the example package (base image and wheels already prepared,
as CodeBuild has its base pulled and its index reachable). Code-only: one line of the package's
Python changed, then an ordinary build, which reuses the layers of the previous image as the
buildspec's `--cache-from` does in CodeBuild. Each build is repeated and the median reported.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "container"))

import build_image  # noqa: E402

PACKAGE = REPO / "examples" / "iris_model"
TAG = "localhost/smp-bench-build-cache:latest"
GOAL_RATIO = 1 / 3


def change_code(package: Path, round_number: int) -> Path:
    """Edits one line of the package's code (a module constant nothing reads), as a commit would."""
    module = next(path for path in sorted((package / "src").rglob("*.py")) if path.name != "__init__.py")
    module.write_text(module.read_text() + f"\n_BENCH_EDIT = {round_number}\n")
    return module


def timed(build: Callable[[], object]) -> float:
    start = time.perf_counter()
    build()
    return time.perf_counter() - start


def podman_missing() -> str | None:
    return None if shutil.which("podman") else "podman is not installed: no image build to measure"


def measure(rounds: int) -> dict:
    """Seconds of each cold build and each code-only rebuild (one pair per round)."""
    cold: list[float] = []
    code_only: list[float] = []
    with tempfile.TemporaryDirectory(prefix="smp-bench-build-") as scratch:
        package = Path(shutil.copytree(PACKAGE, Path(scratch) / "package"))
        build_image.build(package, TAG)  # base image and wheels prepared outside the timings
        for round_number in range(rounds):
            cold.append(timed(lambda: build_image.build(package, TAG, use_layer_cache=False)))
            change_code(package, round_number)
            code_only.append(timed(lambda: build_image.build(package, TAG)))
    return {"cold_s": cold, "code_only_s": code_only}


def section(result: dict | None) -> str:
    """The docs/benchmarks.md section ("" when the run did not measure builds)."""
    if not result:
        return ""
    cold, code_only = result["cold_s"], result["code_only_s"]
    cold_median, code_median = statistics.median(cold), statistics.median(code_only)
    ratio = code_median / cold_median
    verdict = "met" if ratio <= GOAL_RATIO else "not met"
    runs = ", ".join(f"{c:.1f} s / {k:.1f} s" for c, k in zip(cold, code_only, strict=True))
    return "\n".join(
        [
            "## Image build: a code-only change against a cold build",
            "",
            "`python -m benchmarks.build_cache` (podman, the example package, offline base and wheels "
            "prepared beforehand). Cold: `--no-cache`. Code-only: one line of the package's Python "
            "changed, then an ordinary build, which reuses the cached layers as CodeBuild's "
            "`--cache-from` the previous image does.",
            "",
            "| Build | Median | Share of cold |",
            "| --- | --- | --- |",
            f"| Cold (`--no-cache`) | {cold_median:.1f} s | 100% |",
            f"| Code-only change (layer cache) | {code_median:.1f} s | {ratio:.0%} |",
            "",
            f"Goal: a code-only rebuild in a third of the cold build or less: **{verdict}** "
            f"({ratio:.2f}). Rounds (cold / code-only): {runs}.",
            "",
            "**What it means for you.** A commit that changes only your package's code rebuilds only "
            "the package's layer: the dependencies (numpy, scikit-learn, the server) come from the "
            "cache. A change to the requirements rebuilds from the dependencies' layer on.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    missing = podman_missing()
    if missing:
        print(missing, file=sys.stderr)
        return 1
    print(section(measure(args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
