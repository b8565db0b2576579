"""The RULER summary (summary.json) from scored sample records, and its table for the terminal."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jamba_eval.config import format_length
from jamba_eval.ruler.aggregate import bootstrap, effective_length, last_passing_length, length_averages
from jamba_eval.ruler.generator import sample_id
from jamba_eval.ruler.metrics import string_match_all, string_match_part
from jamba_eval.ruler.tasks import TASKS


def _task_score(task: str, records: Sequence[Mapping[str, Any]]) -> float:
    """The cell's score through RULER's own metric functions (so rounding matches RULER's summary.csv)."""
    from jamba_eval.ruler.metrics import postprocess_prediction

    preds = [postprocess_prediction(r["prediction"]) for r in records]
    refs = [r["references"] for r in records]
    metric = string_match_part if TASKS[task].metric == "string_match_part" else string_match_all
    return metric(preds, refs)


def effective_label(value: int | None, lengths: Sequence[int]) -> str:
    """RULER's wording: ">128K" when the longest tested length passes, "<4K" when the shortest fails."""
    if not lengths:
        return "-"
    if value is None:
        return f"<{format_length(min(lengths))}"
    if value == max(lengths):
        return f">{format_length(value)}"
    return format_length(value)


def build_summary(
    records: Iterable[Mapping[str, Any]],
    tasks: Sequence[str],
    lengths: Sequence[int],
    samples: int,
    seed: int,
    threshold: float = 85.6,
    rounds: int = 1000,
) -> dict[str, Any]:
    """Per-task x per-length scores, per-length means, averages and effective length, with bootstrap CIs."""
    lengths = sorted(lengths)
    wanted = {sample_id(t, length, seed, i): (t, length) for t in tasks for length in lengths for i in range(samples)}
    cells: dict[tuple[str, int], list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        where = wanted.get(record.get("id"))
        if where is not None:
            cells[where].append(record)
    scores: dict[str, dict[str, Any]] = {}
    complete_cells: dict[tuple[str, int], list[float]] = {}
    for task in tasks:
        scores[task] = {}
        for length in lengths:
            cell = cells.get((task, length), [])
            if not cell:
                continue
            entry = {
                "score": _task_score(task, cell),
                "n": len(cell),
                "nulls": sum(1 for r in cell if not r["prediction"].strip()),
                "complete": len(cell) == samples,
            }
            scores[task][str(length)] = entry
            if entry["complete"]:
                complete_cells[(task, length)] = [float(r["score"]) for r in cell]
    complete_lengths = [length for length in lengths if all((t, length) in complete_cells for t in tasks)]
    by_length_scores = {
        length: sum(scores[t][str(length)]["score"] for t in tasks) / len(tasks) for length in complete_lengths
    }
    categories: dict[str, dict[str, float]] = defaultdict(dict)
    for length in complete_lengths:
        groups: dict[str, list[float]] = defaultdict(list)
        for task in tasks:
            groups[TASKS[task].category].append(scores[task][str(length)]["score"])
        for category, values in groups.items():
            categories[category][str(length)] = sum(values) / len(values)
    # a length without a score ends the prefix: effective length never skips over a missing length
    all_lengths = {length: by_length_scores.get(length) for length in lengths}
    effective = effective_length(all_lengths, threshold) if tasks else None
    summary: dict[str, Any] = {
        "tasks": list(tasks),
        "lengths": lengths,
        "samples_per_task": samples,
        "seed": seed,
        "threshold": threshold,
        "complete": len(complete_lengths) == len(lengths) and bool(tasks),
        "scores": scores,
        "by_length": {str(length): {"score": score} for length, score in by_length_scores.items()},
        "categories": dict(categories),
        "averages": length_averages(by_length_scores) if len(complete_lengths) == len(lengths) else {},
        "effective_length": {
            "value": effective,
            "label": effective_label(effective, lengths),
            "last_passing": last_passing_length(by_length_scores, threshold),
            "threshold": threshold,
            "rule": "longest length whose mean task score is > threshold there and at every shorter length",
        },
    }
    if rounds > 0 and complete_lengths and complete_lengths == lengths[: len(complete_lengths)]:
        boot = bootstrap(complete_cells, tasks, complete_lengths, rounds=rounds, seed=seed, threshold=threshold)
        for task, per_length in boot["cells"].items():
            for length, interval in per_length.items():
                scores[task][str(length)]["ci95"] = interval
        for length, interval in boot["lengths"].items():
            summary["by_length"][str(length)]["ci95"] = interval
        if summary["averages"]:
            summary["averages"]["ci95"] = boot["averages"]
        summary["effective_length"]["ci95"] = boot["effective_length"]
        summary["effective_length"]["bootstrap_counts"] = boot["effective_length_counts"]
        summary["bootstrap"] = {"rounds": rounds, "seed": seed, "method": "percentile, resampling within cells"}
    return summary


def render_table(summary: Mapping[str, Any]) -> Any:
    """A rich Table: tasks x lengths, then the per-length mean with its 95% CI."""
    from rich.table import Table

    lengths = summary["lengths"]
    table = Table(title=summary.get("title", "RULER"), show_lines=False)
    table.add_column("task")
    for length in lengths:
        table.add_column(format_length(length), justify="right")
    for task in summary["tasks"]:
        row = []
        for length in lengths:
            cell = summary["scores"].get(task, {}).get(str(length))
            row.append("-" if cell is None else f"{cell['score']:.1f}" + ("" if cell["complete"] else "*"))
        table.add_row(task, *row)
    means = []
    for length in lengths:
        entry = summary["by_length"].get(str(length))
        if entry is None:
            means.append("-")
            continue
        ci = entry.get("ci95")
        means.append(f"{entry['score']:.1f}" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else ""))
    table.add_row(f"mean of {len(summary['tasks'])} tasks", *means, style="bold")
    return table


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The lines printed under the table: averages, effective length, skipped tasks."""
    lines = []
    averages = summary.get("averages") or {}
    if averages:
        lines.append(
            f"Avg {averages['avg']:.1f}   wAvg(inc) {averages['wavg_inc']:.1f}   wAvg(dec) {averages['wavg_dec']:.1f}"
        )
    eff = summary["effective_length"]
    text = f"Effective length (> {eff['threshold']} at every length up to it): {eff['label']}"
    ci = eff.get("ci95")
    if ci:
        lengths = summary["lengths"]
        text += f"  (95% CI {effective_label(ci[0], lengths)} to {effective_label(ci[1], lengths)})"
    last = eff.get("last_passing")
    text += f";  last passing length: {format_length(last) if last else 'none'}"
    lines.append(text)
    if summary.get("note"):
        lines.append(summary["note"])
    if not summary.get("finished", summary.get("complete")):
        lines.append("* incomplete: rerun the same command to finish (finished samples are kept)")
    return lines
