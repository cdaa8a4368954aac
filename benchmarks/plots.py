"""PNG plots for docs/benchmarks.md (matplotlib, no display needed)."""

import statistics
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt

COLORS = {"ours": "#1f77b4", "byo": "#d62728", "ceiling": "#7f7f7f"}
NAMES = {
    "ours": "built-in",
    "byo": "BYO nginx+gunicorn+flask",
    "ceiling": "bare ASGI ceiling (best candidate)",
}
PAYLOAD_TITLES = {"csv-1": "CSV, 1 row", "csv-100": "CSV, 100 rows", "json-1": "JSON, 1 row"}


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _serving_grid(results: dict, field: str, ylabel: str, title: str, path: Path) -> Path | None:
    records = results.get("serving", [])
    if not records:
        return None
    payloads = list(dict.fromkeys(r["payload"] for r in records))
    concurrencies = sorted({r["concurrency"] for r in records})
    servers = [s for s in ("ours", "byo", "ceiling") if any(r["server"] == s for r in records)]
    figure, axes = plt.subplots(1, len(payloads), figsize=(4.2 * len(payloads), 3.8), squeeze=False)
    width = 0.8 / len(servers)
    for axis, payload in zip(axes[0], payloads, strict=True):
        for index, server in enumerate(servers):
            values = []
            for concurrency in concurrencies:
                match = [
                    r[field]
                    for r in records
                    if (r["server"], r["payload"], r["concurrency"]) == (server, payload, concurrency)
                ]
                values.append(match[0] if match else 0.0)
            positions = [c + (index - (len(servers) - 1) / 2) * width for c in range(len(concurrencies))]
            bars = axis.bar(positions, values, width, label=NAMES[server], color=COLORS[server])
            axis.bar_label(bars, labels=[_short(v) if v else "n/a" for v in values], fontsize=7, padding=1)
        axis.set_xticks(range(len(concurrencies)), [f"c={c}" for c in concurrencies])
        axis.set_title(PAYLOAD_TITLES.get(payload, payload))
        axis.set_ylabel(ylabel)
        axis.margins(y=0.15)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(servers), fontsize=8, frameon=False)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _short(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.2f}"


def _horizontal(
    labels: list[str], values: list[float], colors: list[str], xlabel: str, title: str, path: Path
):
    figure, axis = plt.subplots(figsize=(7, 0.5 * len(labels) + 1.4))
    bars = axis.barh(labels, values, color=colors)
    axis.bar_label(bars, labels=[_short(v) for v in values], fontsize=8, padding=2)
    axis.set_xlabel(xlabel)
    axis.set_title(title)
    axis.invert_yaxis()
    axis.margins(x=0.15)
    return _save(figure, path)


def _cold_start(results: dict, path: Path) -> Path | None:
    cold = results.get("cold_start_s", {})
    if not cold:
        return None
    keys = list(cold)
    return _horizontal(
        [NAMES.get(k, k) for k in keys],
        [statistics.median(cold[k]) for k in keys],
        [COLORS.get(k, "#333333") for k in keys],
        "seconds from process start to first 200 on /ping (median)",
        "Cold start",
        path,
    )


def _pipeline(results: dict, path: Path) -> Path | None:
    pipeline = results.get("pipeline") or {}
    stages = pipeline.get("stages")
    if not stages:
        return None
    return _horizontal(
        [f"{number}. {stage}" for number, (stage, _) in enumerate(stages, start=1)],
        [seconds for _, seconds in stages],
        ["#2ca02c"] * len(stages),
        "seconds",
        f"Local end-to-end run by stage (wall {pipeline['wall_s']:.1f} s)",
        path,
    )


def _lambdas(results: dict, path: Path) -> Path | None:
    handlers = [h for h in results.get("lambdas", {}).get("handlers", []) if "import_s" in h]
    if not handlers:
        return None
    figure, axis = plt.subplots(figsize=(7, 0.55 * len(handlers) + 1.6))
    names = [h["module"] for h in handlers]
    imports = [h["import_s"] * 1000 for h in handlers]
    firsts = [h.get("first_invocation_s", 0) * 1000 for h in handlers]
    positions = range(len(handlers))
    bars = axis.barh([p - 0.2 for p in positions], imports, 0.4, label="module import", color="#9467bd")
    axis.bar_label(bars, labels=[f"{v:.0f}" for v in imports], fontsize=8, padding=2)
    if any(firsts):
        bars = axis.barh([p + 0.2 for p in positions], firsts, 0.4, label="first invocation", color="#ff7f0e")
        axis.bar_label(bars, labels=[f"{v:.0f}" for v in firsts], fontsize=8, padding=2)
    axis.axvline(300, color="black", linestyle="--", linewidth=1, label="300 ms target")
    axis.set_yticks(list(positions), names)
    axis.invert_yaxis()
    axis.set_xlabel("milliseconds")
    axis.set_title("Lambda handlers")
    axis.legend(fontsize=8, loc="lower right")
    axis.margins(x=0.15)
    return _save(figure, path)


def _forest(results: dict, path: Path) -> Path | None:
    """The forest case: requests/s and p99 per contender (batching off, on per max delay, BYO)."""
    forest = results.get("forest") or {}
    cells = forest.get("cells") or []
    if not cells:
        return None
    labels = [forest.get("servers", {}).get(c["server"], c["server"]) for c in cells]
    colors = [
        COLORS["byo"]
        if c["server"].endswith("byo")
        else "#aec7e8"
        if c["server"] == "forest-ours"
        else COLORS["ours"]
        for c in cells
    ]
    figure, axes = plt.subplots(1, 2, figsize=(11, 0.5 * len(cells) + 1.6), sharey=True)
    for axis, field, xlabel in (
        (axes[0], "requests_per_s", "requests/s (median), higher is better"),
        (axes[1], "p99_ms", "p99 latency, ms (median), lower is better"),
    ):
        values = [c[field] for c in cells]
        bars = axis.barh(labels, values, color=colors)
        axis.bar_label(bars, labels=[_short(v) for v in values], fontsize=8, padding=2)
        axis.set_xlabel(xlabel)
        axis.margins(x=0.18)
    axes[0].invert_yaxis()
    figure.suptitle(
        f"100-tree forest, 1-row CSV, {forest.get('concurrency')} concurrent clients: "
        "micro-batching off and on"
    )
    return _save(figure, path)


def _forest_short_label(key: str) -> str:
    if key == "forest-ours":
        return "batching off"
    if key.endswith("byo"):
        return "BYO"
    if key == "forest-batched":
        return "batching, adaptive (0 ms)"
    return "batching, max delay " + key.removeprefix("forest-batched-").replace("ms", " ms")


def _forest_tradeoff(results: dict, path: Path) -> Path | None:
    """Throughput against latency per contender: p50 (open) to p99 (filled), one line each."""
    forest = results.get("forest") or {}
    cells = forest.get("cells") or []
    if not cells:
        return None
    batched = [c["server"] for c in cells if c["server"].startswith("forest-batched")]
    shades = plt.get_cmap("Blues")
    figure, axis = plt.subplots(figsize=(8, 4.6))
    for cell in cells:
        key = cell["server"]
        if key.endswith("byo"):
            color = COLORS["byo"]
        elif key in batched:
            color = shades(0.45 + 0.5 * batched.index(key) / max(1, len(batched) - 1))
        else:
            color = "#7f7f7f"
        rate = cell["requests_per_s"]
        axis.plot([cell["p50_ms"], cell["p99_ms"]], [rate, rate], "-", color=color, linewidth=1.5)
        axis.plot(cell["p50_ms"], rate, "o", mfc="white", color=color)
        axis.plot(cell["p99_ms"], rate, "o", color=color, label=_forest_short_label(key))
    axis.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda value, _position: f"{value:g}")
    axis.xaxis.set_major_formatter(plain)
    axis.xaxis.set_minor_formatter(plain)
    axis.tick_params(axis="x", which="minor", labelsize=7)
    axis.set_xlabel("latency, ms (log scale): open dot p50, filled dot p99")
    axis.set_ylabel("requests/s (median)")
    axis.margins(x=0.1, y=0.12)
    axis.legend(fontsize=8, loc="center right")
    axis.set_title(f"100-tree forest, {forest.get('concurrency')} clients: throughput against latency")
    return _save(figure, path)


def draw_all(results: dict, img_dir: Path) -> dict[str, Path]:
    img_dir.mkdir(parents=True, exist_ok=True)
    drawn = {
        "throughput": _serving_grid(
            results,
            "requests_per_s",
            "requests/s",
            "Requests per second (median)",
            img_dir / "bench-throughput.png",
        ),
        "latency": _serving_grid(
            results,
            "p99_ms",
            "p99 latency, ms",
            "p99 latency (median), lower is better",
            img_dir / "bench-p99.png",
        ),
        "forest": _forest(results, img_dir / "bench-forest.png"),
        "forest_tradeoff": _forest_tradeoff(results, img_dir / "bench-forest-tradeoff.png"),
        "cold_start": _cold_start(results, img_dir / "bench-cold-start.png"),
        "pipeline": _pipeline(results, img_dir / "bench-pipeline.png"),
        "lambdas": _lambdas(results, img_dir / "bench-lambdas.png"),
    }
    return {key: path for key, path in drawn.items() if path is not None}
