"""Plots of the efficiency task (matplotlib, PNG + SVG): throughput and memory against context (one colour per
model, measured points joined by solid lines, analytic curves dashed, log-scaled context), and the papers' Table 1
KV-cache bar chart. Figures are built with `matplotlib.figure.Figure`, never pyplot, so no global state or GUI
backend is touched; SVGs carry no date, so the same data gives the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jamba_eval.config import format_length

_SAVE = {"png": {"dpi": 150, "metadata": {"Software": None}}, "svg": {"metadata": {"Date": None}}}


def _save(fig: Any, out_dir: Path, stem: str) -> list[Path]:
    import matplotlib

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "jamba-eval"}):
        for ext, options in _SAVE.items():
            path = out_dir / f"{stem}.{ext}"
            fig.savefig(path, format=ext, bbox_inches="tight", **options)
            paths.append(path)
    return paths


def _context_axis(ax: Any, lengths: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ticks = sorted(set(lengths))
    ax.set_xticks(ticks)
    ax.set_xticklabels([format_length(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("context length (tokens)")
    ax.grid(True, which="major", alpha=0.3)


def _series(summary: dict[str, Any]) -> list[tuple[str, int, list[dict[str, Any]]]]:
    """(model label, batch, its ok rows sorted by length) for every line to draw."""
    series = []
    for model in summary["models"]:
        for batch in summary["batch_sizes"]:
            rows = [
                r
                for r in summary["table"]
                if r["model"] == model["label"] and r["batch"] == batch and r["status"] == "ok"
            ]
            if rows:
                series.append((model["label"], batch, sorted(rows, key=lambda r: r["length"])))
    return series


def _draw(ax: Any, series: list, measured: str, analytic: str | None, scale: float = 1.0) -> None:
    colours = {}
    multi_batch = len({b for _, b, _ in series}) > 1
    for label, batch, rows in series:
        colour = colours.setdefault(label, f"C{len(colours)}")
        name = f"{label} (batch {batch})" if multi_batch else label
        style = ["-", "-.", ":"][sorted({b for _, b, _ in series}).index(batch) % 3]
        points = [(r["length"], r[measured] / scale) for r in rows if r.get(measured) is not None]
        if points:
            ax.plot(*zip(*points, strict=True), style, marker="o", color=colour, label=f"{name} measured")
        if analytic:
            curve = [(r["length"], r[analytic] / scale) for r in rows if r.get(analytic) is not None]
            if curve:
                ax.plot(*zip(*curve, strict=True), "--", color=colour, alpha=0.7, label=f"{name} analytic")


def plot_throughput(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    from matplotlib.figure import Figure

    series = _series(summary)
    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2)
    for ax, key, title in (
        (axes[0], "prefill_tok_s", "prefill (prompt tokens / time to first token)"),
        (axes[1], "decode_tok_s", "decode (generated tokens / decode time)"),
    ):
        _draw(ax, series, key, f"analytic_{key}")
        _context_axis(ax, summary["lengths"])
        ax.set_yscale("log")
        ax.set_ylabel("tokens / s")
        ax.set_title(title, fontsize=10)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=7)
    fig.suptitle(
        "Throughput vs context (analytic: FLOP / bytes-read model calibrated at the shortest length)", fontsize=10
    )
    return _save(fig, out_dir, "throughput_vs_context")


def plot_memory(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    from matplotlib.figure import Figure

    series = _series(summary)
    kinds = sorted({m["memory_kind"] for m in summary["models"] if m["memory_kind"]})
    unit = "GPU memory allocated" if kinds == ["cuda_allocated"] else "RSS"
    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2)
    for ax, key, title in (
        (axes[0], "peak_memory_bytes", f"peak {unit} during generate"),
        (axes[1], "resident_memory_bytes", f"{unit} while decoding (weights + caches)"),
    ):
        _draw(ax, series, key, "analytic_resident_bytes", scale=2**20)
        _context_axis(ax, summary["lengths"])
        ax.set_ylabel("MiB")
        ax.set_title(title, fontsize=10)
    if axes[1].get_legend_handles_labels()[0]:
        axes[1].legend(fontsize=7)
    fig.suptitle("Memory vs context (analytic: memory after loading + KV cache + Mamba state)", fontsize=10)
    return _save(fig, out_dir, "memory_vs_context")


def plot_kv_cache_table(output_dir: str | Path, length: int = 262144) -> list[Path]:
    """Bars: KV cache at `length` tokens, 16-bit, computed from each preset's config; black ticks: the value
    printed in the papers' Table 1 (shown when `length` is 256K)."""
    from matplotlib.figure import Figure

    from jamba_eval.tasks.efficiency.memory import GiB, kv_cache_bytes
    from jamba_eval.tasks.efficiency.presets import PAPER_KV_TABLE

    names = [name for name, _, _ in PAPER_KV_TABLE]
    computed = [kv_cache_bytes(name, length, 1, "bf16") / GiB for name in names]
    fig = Figure(figsize=(10, 4.2))
    ax = fig.subplots()
    colours = ["C1" if name.startswith("jamba") else "C0" for name in names]
    bars = ax.bar(range(len(names)), computed, color=colours)
    for bar, value in zip(bars, computed, strict=True):
        ax.annotate(
            f"{value:g}",
            (bar.get_x() + bar.get_width() / 2, value),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    if length == 262144:
        papers = [paper for _, paper, _ in PAPER_KV_TABLE]
        ax.scatter(range(len(names)), papers, marker="D", s=18, color="black", zorder=3, label="paper's Table 1")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, 0.9))
    first_paper = sum(1 for _, _, source in PAPER_KV_TABLE if source.startswith("Jamba (arXiv"))
    ax.axvline(first_paper - 0.5, color="grey", lw=0.8, ls=":")
    ax.set_ylim(0, max(computed) * 1.2)
    for x, text in (((first_paper - 1) / 2, "Jamba paper"), ((first_paper + len(names) - 1) / 2, "Jamba-1.5 paper")):
        ax.text(x, max(computed) * 1.12, text, ha="center", fontsize=8, color="grey")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("GiB (the papers' GB)")
    ax.set_title(
        f"KV cache at {format_length(length)} tokens, 16-bit, batch 1: 2 x attention layers x KV heads x "
        "head dim x length x 2 bytes",
        fontsize=9,
    )
    return _save(fig, Path(output_dir), "kv_cache_table1")


def plot_all(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    return [
        *plot_throughput(summary, out_dir),
        *plot_memory(summary, out_dir),
        *plot_kv_cache_table(out_dir),
    ]
