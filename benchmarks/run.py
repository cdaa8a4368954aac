"""`python -m benchmarks.run`: run the benchmarks and rewrite docs/benchmarks.md and its plots.

    python -m benchmarks.run                       # the full run behind `make bench`
    python -m benchmarks.run --budget tiny --output /tmp/b.md --img-dir /tmp/img   # smoke run

All traffic stays on 127.0.0.1; every load run is bounded by wrk's duration, every wait by a
timeout, and every process the bench starts is stopped before it returns.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import lambdas_bench, loadgen, machine, pipeline, plots, profile, report, servers, serving
from benchmarks.budget import Budget, budget_named
from benchmarks.model import prepare
from benchmarks.payloads import build_payloads

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "docs" / "benchmarks.md"
DEFAULT_IMG_DIR = REPO / "docs" / "img"
DEFAULT_RESULTS = REPO / "benchmarks" / "results" / "results.json"


def progress(message: str) -> None:
    print(f"bench: {message}", flush=True)


def run_serving(budget: Budget, work_dir: Path, results: dict) -> None:
    workers = servers.cpu_count()
    progress("training the example model")
    model = prepare(work_dir)
    results["model"] = model.source
    payloads = build_payloads(model.feature_rows, budget.payloads)
    scripts = {payload.key: loadgen.write_script(payload, work_dir) for payload in payloads}
    log_dir = work_dir / "logs"
    log_dir.mkdir()

    progress(f"choosing the ceiling among {', '.join(budget.ceiling_candidates)}")
    chosen, probe = serving.pick_ceiling(
        model, payloads[0], scripts[payloads[0].key], budget, workers, log_dir
    )
    byo_run_dir = Path(tempfile.mkdtemp(prefix="bench-byo-"))
    try:
        contenders = serving.contenders(model, byo_run_dir, chosen, workers)
        results["servers"] = {contender.key: contender.label for contender in contenders}
        results["ceiling"] = {"chosen": chosen, "probe_requests_per_s": probe, "payload": payloads[0].key}
        results["workers"] = workers

        progress("cold starts")
        results["cold_start_s"] = {
            contender.key: serving.measure_cold_start(contender, budget.coldstart_runs, log_dir)
            for contender in contenders
        }
        progress("serving matrix")
        cells = serving.measure_matrix(contenders, payloads, scripts, budget, log_dir, progress)
        results["serving"] = [report.cell_record(cell) for cell in cells]
        if budget.profile_s:
            progress("profiling our server and the ceiling under load")
            first = payloads[0]
            results["profiles"] = [
                profile.profile_under_load(
                    contender, first.key, scripts[first.key], 8, budget.profile_s, log_dir
                )
                for contender in contenders
                if contender.key in ("ours", "ceiling")
            ]
    finally:
        shutil.rmtree(byo_run_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", help="full (default, or $BENCH_BUDGET) or tiny")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the markdown report to write")
    parser.add_argument("--img-dir", type=Path, default=DEFAULT_IMG_DIR, help="where the PNG plots go")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="raw results (JSON)")
    args = parser.parse_args(argv)
    budget = budget_named(args.budget)
    started = time.monotonic()
    results: dict = {"budget": budget.name, "machine": machine.describe()}
    results["commands"] = report.commands(budget, sys.argv)
    with tempfile.TemporaryDirectory(prefix="bench-") as work:
        run_serving(budget, Path(work), results)
    progress("lambdas")
    results["lambdas"] = lambdas_bench.measure(REPO, budget.lambda_repetitions)
    if budget.pipeline:
        progress("local end-to-end pipeline")
        results["pipeline"] = pipeline.measure(REPO, budget.pipeline_timeout_s)
    results["load_average_after"] = machine.describe()["load_average"]
    results["elapsed_s"] = time.monotonic() - started

    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2))
    images = plots.draw_all(results, args.img_dir)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report.render(results, images, args.output.parent))
    progress(f"wrote {args.output} and {len(images)} plots in {results['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
