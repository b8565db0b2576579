"""The report's figures (matplotlib `Figure` objects on the Agg canvas, never pyplot), saved as PNG + SVG:
the RULER heatmap per run, score-vs-length curves of all runs (85.6 line, effective length marked), the NIAH
needle-depth x length heatmap, and Arena-Hard scores with CIs. Efficiency plots come from the efficiency task."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from jamba_eval.config import format_length
from jamba_eval.reports.published import PUBLISHED, ruler_scores

_SAVE = {"png": {"dpi": 110, "metadata": {"Software": None}}, "svg": {"metadata": {"Date": None}}}
DEPTH_BINS = 10


def safe_text(text: str) -> str:
    """Model-supplied text for matplotlib: `$` would start mathtext, a leading `_` hides a legend entry."""
    text = str(text).replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def save(fig: Any, out_dir: Path, stem: str) -> list[Path]:
    import matplotlib

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "jamba-eval", "svg.fonttype": "path"}):
        for ext, options in _SAVE.items():
            path = out_dir / f"{stem}.{ext}"
            fig.savefig(path, format=ext, bbox_inches="tight", **options)
            paths.append(path)
    return paths


def _length_axis(ax: Any, lengths: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(lengths)
    ax.set_xticklabels([format_length(x) for x in lengths])
    ax.minorticks_off()
    ax.set_xlabel("context length (tokens)")
    ax.grid(True, alpha=0.3)


def _heatmap(ax: Any, values: list[list[float | None]], threshold: float | None) -> Any:
    import numpy as np

    data = np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)
    image = ax.imshow(np.ma.masked_invalid(data), cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if value is None:
                ax.text(j, i, "-", ha="center", va="center", fontsize=7, color="grey")
                continue
            strong = threshold is not None and value > threshold
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7, weight="bold" if strong else "normal")
    return image


def ruler_heatmap(view: Any, out_dir: Path) -> list[Path]:
    """Task x length scores of one run, with the per-length mean as the last row."""
    from matplotlib.figure import Figure

    labels = [*view.tasks, "mean"]
    values = [[c["score"] for c in row["cells"]] for row in view.rows] + [[m["score"] for m in view.means]]
    fig = Figure(figsize=(1.6 + 0.75 * len(view.lengths), 1.2 + 0.32 * len(labels)))
    ax = fig.subplots()
    image = _heatmap(ax, values, view.threshold)
    ax.set_xticks(range(len(view.lengths)), [format_length(x) for x in view.lengths])
    ax.set_yticks(range(len(labels)), labels)
    ax.axhline(len(labels) - 1.5, color="black", lw=1)
    ax.set_title(safe_text(f"RULER: {view.model.name}") + f"  (bold: > {view.threshold})", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="score")
    return save(fig, out_dir, "heatmap")


def ruler_curves(views: list[Any], out_dir: Path, threshold: float = 85.6, published: bool = True) -> list[Path]:
    """Mean score against length for every run (95% CI band), the published Jamba rows dashed, the threshold line,
    and each run's effective length marked with a star on its curve."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.6))
    ax = fig.subplots()
    lengths: set[int] = set()
    for i, view in enumerate(views):
        colour = f"C{i % 10}"
        at = view.score_at()
        xs = sorted(at)
        if not xs:
            continue
        lengths.update(xs)
        name = safe_text(f"{view.model.name} ({view.model.runner})")
        ax.plot(xs, [at[x] for x in xs], "-o", color=colour, ms=4, label=name)
        cis = [(x, m.get("ci_pair")) for x, m in zip(view.lengths, view.means, strict=True) if m.get("ci_pair")]
        if cis:
            ax.fill_between(
                [x for x, _ in cis], [c[0] for _, c in cis], [c[1] for _, c in cis], color=colour, alpha=0.15
            )
        effective = view.effective.get("value")
        if effective in at:
            ax.plot([effective], [at[effective]], "*", color=colour, ms=14, mec="black", mew=0.6)
    if published:
        for p in PUBLISHED:
            if not p.key.startswith("jamba"):
                continue
            scores = ruler_scores(p)
            xs = sorted(scores)
            lengths.update(xs)
            ax.plot(xs, [scores[x] for x in xs], "--", color="grey", lw=1, label=f"{p.name} (published)")
    ax.axhline(threshold, color="black", lw=0.8, ls=":")
    ax.annotate(
        f"{threshold} (Llama-2-7B at 4K)",
        (0.01, threshold),
        xycoords=("axes fraction", "data"),
        xytext=(0, 3),
        textcoords="offset points",
        fontsize=7,
    )
    ax.plot([], [], "*", color="white", mec="black", ms=10, label="effective length")
    _length_axis(ax, sorted(lengths) or [4096])
    ax.set_ylim(0, 102)
    ax.set_ylabel("mean score over tasks")
    ax.set_title("RULER: score against context length", fontsize=10)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save(fig, out_dir, "ruler_curves")


def niah_depth(view: Any, out_dir: Path) -> list[Path]:
    """Mean NIAH score per needle-depth bin (rows, 0% at the top) and length (columns)."""
    from matplotlib.figure import Figure

    if not view.depth_points:
        return []
    cells: dict[tuple[int, int], list[float]] = defaultdict(list)
    for length, depth, score in view.depth_points:
        cells[(min(DEPTH_BINS - 1, int(depth * DEPTH_BINS)), length)].append(score)
    values = [[sum(c) / len(c) if (c := cells.get((b, x))) else None for x in view.lengths] for b in range(DEPTH_BINS)]
    fig = Figure(figsize=(1.6 + 0.75 * len(view.lengths), 4))
    ax = fig.subplots()
    image = _heatmap(ax, values, None)
    ax.set_xticks(range(len(view.lengths)), [format_length(x) for x in view.lengths])
    step = 100 // DEPTH_BINS
    ax.set_yticks(range(DEPTH_BINS), [f"{b * step}-{(b + 1) * step}%" for b in range(DEPTH_BINS)])
    ax.set_ylabel("needle depth in the prompt")
    ax.set_title(safe_text(f"NIAH tasks by needle depth: {view.model.name}") + " (blank: no sample)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="mean score")
    return save(fig, out_dir, "niah_depth")


def arena_scores(view: Any, out_dir: Path) -> list[Path]:
    """Each model's score (dot) and 95% bootstrap CI (bar), best at the top, as LMArena's rating plot."""
    from matplotlib.figure import Figure

    rows = [r for r in view.rows if r.get("score") is not None]
    if not rows:
        return []
    rows = sorted(rows, key=lambda r: r["score"])
    fig = Figure(figsize=(7, 0.9 + 0.35 * len(rows)))
    ax = fig.subplots()
    for i, row in enumerate(rows):
        lower = row["lower"] if row.get("lower") is not None else row["score"]
        upper = row["upper"] if row.get("upper") is not None else row["score"]
        ax.errorbar(
            [row["score"]],
            [i],
            xerr=[[row["score"] - lower], [upper - row["score"]]],
            fmt="o",
            color="C1" if row.get("baseline") else "C0",
            capsize=3,
        )
    ax.set_yticks(range(len(rows)), [safe_text(r["model"]) for r in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(0, 100)
    ax.axvline(50, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(safe_text(f"win rate against {view.summary.get('baseline')} (%), 95% CI"))
    ax.grid(True, axis="x", alpha=0.3)
    return save(fig, out_dir, "arena_scores")
