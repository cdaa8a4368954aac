"""`python -m benchmarks.run`: run the benchmarks and rewrite docs/benchmarks.md and its plots.

    python -m benchmarks.run                       # the full run behind `make bench`
    python -m benchmarks.run --budget tiny --output /tmp/b.md --img-dir /tmp/img   # smoke run

All traffic stays on 127.0.0.1; every load run is bounded by wrk's duration, every wait by a
timeout, and every process the bench starts is stopped before it returns. A part that fails
is reported in the document and makes the exit status 1; the other parts still run.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks import (
    build_cache,
    coldstart,
    envs,
    forest,
    lambdas_bench,
    loadgen,
    machine,
    pipeline,
    plots,
    profile,
    report,
    servers,
    serving,
)
from benchmarks.budget import Budget, budget_named
from benchmarks.model import prepare
from benchmarks.payloads import build_payloads

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "docs" / "benchmarks.md"
DEFAULT_IMG_DIR = REPO / "docs" / "img"
DEFAULT_RESULTS = REPO / "benchmarks" / "results" / "results.json"


def progress(message: str) -> None:
    print(f"bench: {message}", flush=True)


def attempt(results: dict, part: str, action: Callable[[], None]) -> None:
    progress(part)
    try:
        action()
    except Exception as error:  # noqa: BLE001 - reported in the document and the exit status
        traceback.print_exc()
        results.setdefault("failures", []).append(f"{part}: {type(error).__name__}: {error}")


def run_serving(budget: Budget, work_dir: Path, results: dict) -> None:
    workers = servers.cpu_count()
    model = prepare(work_dir)
    results["model"] = model.source
    results["workers"] = workers
    payloads = build_payloads(model.feature_rows, budget.payloads)
    scripts = {payload.key: loadgen.write_script(payload, work_dir) for payload in payloads}
    log_dir = work_dir / "logs"
    log_dir.mkdir()
    first = payloads[0]

    byo_run_dir = Path(tempfile.mkdtemp(prefix="bench-byo-"))
    try:
        contenders = serving.contenders(model, byo_run_dir, budget.ceiling_candidates, workers)
        results["servers"] = {contender.key: contender.label for contender in contenders}
        results["servers"][serving.CEILING] = "bare-ASGI ceiling (best candidate of the cell)"
        by_key = {contender.key: contender for contender in contenders}

        def cold_starts() -> None:
            results["cold_start_s"] = {
                key: serving.measure_cold_start(by_key[key], budget.coldstart_runs, log_dir)
                for key in ("ours", "byo")
            }
            results["cold_start_parts_s"] = coldstart.parts(
                model.bin_dir / "python", model.artifact, budget.coldstart_runs
            )

        def matrix() -> None:
            cells = serving.measure_matrix(contenders, payloads, scripts, budget, log_dir, progress)
            cells += serving.best_ceilings(cells)
            results["serving"] = [report.cell_record(cell) for cell in cells]

        def profiles() -> None:
            # 1 row shows the per-request costs; 100 rows (issue 17 item 3) parsing, predict and encoding.
            results["profiles"] = []
            for payload in [p for p in payloads if p.key in (first.key, "csv-100")]:
                best = report.find(results, serving.CEILING, payload.key, 8)
                ceiling = best["via"] if best else serving.ceiling_key(budget.ceiling_candidates[0])
                results["profiles"] += [
                    profile.profile_under_load(
                        by_key[key], payload.key, scripts[payload.key], 8, budget.profile_s, log_dir
                    )
                    for key in ("ours", "byo", ceiling)
                ]

        def model_bound() -> None:
            results["forest"] = forest.measure(
                model, payloads, scripts, budget, work_dir, byo_run_dir, workers, log_dir, progress
            )

        results["environments"] = {
            "built-in server": machine.package_versions(model.bin_dir / "python"),
            "BYO": machine.package_versions(envs.byo_python()),
            "ceiling and harness": machine.package_versions(Path(sys.executable)),
        }
        attempt(results, "cold starts", cold_starts)
        attempt(results, "serving matrix", matrix)
        if budget.forest_delays_ms:
            attempt(results, "model-bound forest, micro-batching off and on", model_bound)
        if budget.profile_s:
            attempt(results, "profiling our server and the ceiling under load", profiles)
    finally:
        shutil.rmtree(byo_run_dir, ignore_errors=True)


def write_report(results: dict, args: argparse.Namespace) -> None:
    images = plots.draw_all(results, args.img_dir)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report.render(results, images, args.output.parent))
    progress(f"wrote {args.output} and {len(images)} plots from a {results['elapsed_s']:.0f} s run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", help="full (default, or $BENCH_BUDGET) or tiny")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the markdown report to write")
    parser.add_argument("--img-dir", type=Path, default=DEFAULT_IMG_DIR, help="where the PNG plots go")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="raw results (JSON)")
    parser.add_argument(
        "--render-only", action="store_true", help="measure nothing: rewrite the report from --results"
    )
    args = parser.parse_args(argv)
    if args.render_only:
        write_report(json.loads(args.results.read_text()), args)
        return 0
    budget = budget_named(args.budget)
    started = time.monotonic()
    results: dict = {"budget": budget.name, "machine": machine.describe()}
    results["commands"] = report.commands(budget, sys.argv)
    cpu_before = machine.cpu_snapshot()

    with tempfile.TemporaryDirectory(prefix="bench-") as work:
        attempt(
            results,
            "training the example model and serving",
            lambda: run_serving(budget, Path(work), results),
        )

    def lambdas() -> None:
        results["lambdas"] = lambdas_bench.measure(REPO, budget.lambda_repetitions)

    def local_pipeline() -> None:
        results["pipeline"] = pipeline.measure(REPO, budget.pipeline_timeout_s)

    def image_builds() -> None:
        results["build_cache"] = build_cache.measure(rounds=1)

    attempt(results, "lambdas", lambdas)
    if budget.pipeline:
        attempt(results, "local end-to-end pipeline", local_pipeline)
        if build_cache.podman_missing() is None:
            attempt(results, "image build cache", image_builds)
    results["load_average_after"] = machine.describe()["load_average"]
    results["contention"] = machine.contention(
        cpu_before, machine.cpu_snapshot(), results["machine"]["cores"]
    )
    results["elapsed_s"] = time.monotonic() - started

    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2))
    write_report(results, args)
    for failure in results.get("failures", []):
        progress(f"FAILED {failure}")
    return 1 if results.get("failures") else 0


if __name__ == "__main__":
    sys.exit(main())
