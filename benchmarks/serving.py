"""The serving comparison: our server, the BYO reference and the ceiling candidates, interleaved.

Every contender serves the same model artifact on 127.0.0.1 with one worker per core. Each
(payload, concurrency) cell runs every contender once per repetition, rotating who goes first,
and the median repetition is reported. The ceiling of a cell is whichever bare-ASGI candidate
server did best in it.
"""

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import loadgen, servers
from benchmarks.budget import Budget
from benchmarks.model import PreparedModel
from benchmarks.payloads import Payload
from localmode.aws.processes import free_port

BYO_PAYLOADS = frozenset({"csv-1", "csv-100"})  # the example's predictor answers 415 to anything but CSV


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    spec_for_port: Callable[[int], servers.ServerSpec]
    payloads: frozenset[str] | None = None

    def serves(self, payload: Payload) -> bool:
        return self.payloads is None or payload.key in self.payloads


@dataclass
class Cell:
    server: str
    payload: str
    concurrency: int
    runs: list[loadgen.LoadResult] = field(default_factory=list)
    via: str = ""  # for the derived ceiling cell: the candidate server it comes from

    @property
    def requests_per_s(self) -> float:
        return statistics.median(run.requests_per_s for run in self.runs)

    @property
    def p50_ms(self) -> float:
        return statistics.median(run.p50_ms for run in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(run.p99_ms for run in self.runs)

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)


CEILING = "ceiling"


def ceiling_key(server: str) -> str:
    return f"{CEILING}-{server}"


def contenders(
    model: PreparedModel, byo_run_dir: Path, ceiling_servers: tuple[str, ...], workers: int
) -> list[Contender]:
    environment = model.runtime_environment()
    return [
        Contender(
            "ours",
            "built-in server",
            lambda port: servers.ours(model.bin_dir, environment, port, workers),
        ),
        Contender(
            "byo",
            "BYO nginx+gunicorn+flask",
            lambda port: servers.byo(model.artifact, byo_run_dir, port, workers),
            BYO_PAYLOADS,
        ),
        *(ceiling_contender(model, server, workers) for server in ceiling_servers),
    ]


def ceiling_contender(model: PreparedModel, server: str, workers: int) -> Contender:
    label = servers.ceiling(server, model.artifact, 0, workers).label
    return Contender(
        ceiling_key(server), label, lambda port: servers.ceiling(server, model.artifact, port, workers)
    )


def best_ceilings(cells: list[Cell]) -> list[Cell]:
    """Per (payload, concurrency), the ceiling candidate's cell with the most requests/s, as `ceiling`."""
    best: dict[tuple[str, int], Cell] = {}
    for cell in cells:
        if not cell.server.startswith(f"{CEILING}-"):
            continue
        key = (cell.payload, cell.concurrency)
        if key not in best or cell.requests_per_s > best[key].requests_per_s:
            best[key] = cell
    return [
        Cell(CEILING, cell.payload, cell.concurrency, cell.runs, via=cell.server) for cell in best.values()
    ]


def start(contender: Contender, log_dir: Path) -> servers.RunningServer:
    port = free_port()
    running = servers.RunningServer(contender.spec_for_port(port), port, log_dir / f"{contender.key}.log")
    try:
        running.wait_healthy()
    except servers.ServerFailed:
        running.stop()
        raise
    return running


def measure_cold_start(contender: Contender, runs: int, log_dir: Path) -> list[float]:
    """Seconds from process start to the first 200 on /ping, once per fresh process."""
    timings = []
    for _ in range(runs):
        with start(contender, log_dir) as running:
            timings.append(running.healthy_after)
    return timings


def warm_up(
    running: servers.RunningServer, scripts: dict[str, Path], payloads: list[Payload], budget: Budget
):
    for payload in payloads:
        loadgen.run_wrk(running.port, scripts[payload.key], 8, budget.warmup_s)


def measure_matrix(
    contenders_here: list[Contender],
    payloads: list[Payload],
    scripts: dict[str, Path],
    budget: Budget,
    log_dir: Path,
    progress: Callable[[str], None],
) -> list[Cell]:
    cells = []
    running: dict[str, servers.RunningServer] = {}
    try:
        for contender in contenders_here:
            running[contender.key] = start(contender, log_dir)
            warm_up(running[contender.key], scripts, [p for p in payloads if contender.serves(p)], budget)
        for payload in payloads:
            for concurrency in budget.concurrencies:
                row = {
                    c.key: Cell(c.key, payload.key, concurrency) for c in contenders_here if c.serves(payload)
                }
                order = list(row)
                for repetition in range(budget.repetitions):
                    shift = repetition % len(order)
                    for key in order[shift:] + order[:shift]:
                        result = loadgen.run_wrk(
                            running[key].port, scripts[payload.key], concurrency, budget.duration_s
                        )
                        row[key].runs.append(result)
                for cell in row.values():
                    progress(
                        f"{cell.server:8} {payload.key:8} c={concurrency:<3} "
                        f"{cell.requests_per_s:9.0f} req/s "
                        f"p50 {cell.p50_ms:6.2f} ms  p99 {cell.p99_ms:6.2f} ms  errors {cell.errors}"
                    )
                cells.extend(row.values())
    finally:
        for server in running.values():
            server.stop()
    return cells
