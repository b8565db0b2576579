"""RULER run directories -> what the RULER pages show: the task x length table with CIs, per-length means,
averages, effective length, the leaderboard rows (ours and published), and the per-sample drill-down."""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from typing import Any

from jamba_eval.config import format_length
from jamba_eval.reports.excerpts import Excerpt, PromptRebuilder
from jamba_eval.reports.published import PUBLISHED, RULER_AVG_LENGTHS, RULER_SOURCE, ruler_scores
from jamba_eval.reports.runs import ModelRef, Run
from jamba_eval.ruler.aggregate import THRESHOLD, effective_length, last_passing_length, length_averages
from jamba_eval.ruler.summary import effective_label

log = logging.getLogger(__name__)

SAMPLES_PER_CELL = 4  # drill-down: failures first, then passes


def fmt(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ci_text(ci: Any, digits: int = 1) -> str:
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci and None not in ci[:2] else ""


def heat_class(score: float | None, threshold: float = THRESHOLD) -> str:
    """CSS classes of a heatmap cell: ten colour steps (h0-h10), and `pass` above the threshold."""
    if score is None:
        return "cell missing"
    return f"cell h{min(10, max(0, int(score // 10)))}" + (" pass" if score > threshold else "")


@dataclasses.dataclass
class DrillSample:
    id: str
    index: int
    score: float
    prediction: str
    references: list[str]
    depth: float | None
    prompt_tokens: int | None
    finish_reason: str | None
    excerpt: Excerpt


@dataclasses.dataclass
class DrillCell:
    task: str
    length: int
    score: float | None
    n: int
    failures: int
    samples: list[DrillSample]

    @property
    def anchor(self) -> str:
        return f"s-{self.task}-{self.length}"


@dataclasses.dataclass
class RulerView:
    """One RULER run, ready for the templates."""

    run: Run
    model: ModelRef
    summary: dict[str, Any]
    lengths: list[int]
    tasks: list[str]
    threshold: float
    rows: list[dict[str, Any]]  # task, category, cells [{score, ci, n, complete, classes}]
    means: list[dict[str, Any]]  # per length: score, ci, classes
    categories: list[dict[str, Any]]
    averages: dict[str, Any]
    effective: dict[str, Any]
    notes: list[str]
    samples_per_cell: int = SAMPLES_PER_CELL
    drill: list[DrillCell] = dataclasses.field(default_factory=list)
    depth_points: list[tuple[int, float, float]] = dataclasses.field(
        default_factory=list
    )  # NIAH (length, depth, score)

    @property
    def page(self) -> str:
        return f"ruler/{self.run.slug}.html"

    @property
    def comparable(self) -> tuple:
        """Runs rank against each other only on the same tasks and lengths."""
        return (tuple(self.tasks), tuple(self.lengths))

    def score_at(self) -> dict[int, float]:
        return {
            length: m["score"] for length, m in zip(self.lengths, self.means, strict=True) if m["score"] is not None
        }


def ruler_view(run: Run, samples_per_cell: int = SAMPLES_PER_CELL) -> RulerView:
    """Everything about one RULER run; raises KeyError/TypeError on a summary of another shape."""
    s = run.summary
    lengths = [int(x) for x in s["lengths"]]
    tasks = list(s["tasks"])
    threshold = float(s.get("threshold", THRESHOLD))
    from jamba_eval.ruler.tasks import TASKS

    rows = []
    for task in tasks:
        cells = []
        for length in lengths:
            cell = (s["scores"].get(task) or {}).get(str(length))
            if cell is None:
                unfit = (s.get("unfit") or {}).get(task, {}).get(str(length))
                cells.append({"score": None, "classes": "cell missing", "note": "cannot fit" if unfit else "not run"})
                continue
            cells.append(
                {
                    "score": cell["score"],
                    "ci": ci_text(cell.get("ci95")),
                    "n": cell.get("n"),
                    "nulls": cell.get("nulls", 0),
                    "complete": cell.get("complete", True),
                    "classes": heat_class(cell["score"], threshold),
                    "anchor": f"s-{task}-{length}",
                }
            )
        rows.append({"task": task, "category": TASKS[task].category if task in TASKS else "-", "cells": cells})
    means = []
    for length in lengths:
        entry = s["by_length"].get(str(length))
        score = entry["score"] if entry else None
        means.append(
            {
                "score": score,
                "ci": ci_text(entry.get("ci95")) if entry else "",
                "ci_pair": entry.get("ci95") if entry else None,
                "classes": heat_class(score, threshold),
            }
        )
    categories = [
        {"name": name, "cells": [{"score": per.get(str(x)), "classes": heat_class(per.get(str(x)))} for x in lengths]}
        for name, per in (s.get("categories") or {}).items()
    ]
    averages = dict(s.get("averages") or {})
    eff = dict(s["effective_length"])
    ci = eff.get("ci95")
    eff["ci_text"] = f"{effective_label(ci[0], lengths)} to {effective_label(ci[1], lengths)}" if ci else ""
    eff["last_passing_label"] = format_length(eff["last_passing"]) if eff.get("last_passing") else "none"
    notes = [n for n in [s.get("note", "")] if n]
    if not s.get("finished", s.get("complete", True)):
        notes.append("incomplete run: cells marked * have fewer samples than asked for; rerun the command to finish")
    if s.get("skipped_tasks"):
        notes.append("skipped tasks: " + ", ".join(f"{k} ({v})" for k, v in s["skipped_tasks"].items()))
    view = RulerView(
        run,
        run.models()[0],
        s,
        lengths,
        tasks,
        threshold,
        rows,
        means,
        categories,
        averages,
        eff,
        notes,
        samples_per_cell,
    )
    _add_samples(view, samples_per_cell)
    return view


def _add_samples(view: RulerView, per_cell: int) -> None:
    """The drill-down (a few samples per cell, failures first, prompts rebuilt) and NIAH depth points."""
    from jamba_eval.results import ResultsError, SampleLog

    path = view.run.path / "samples.jsonl"
    cells: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    wanted = set(view.tasks)
    try:
        for record in SampleLog(path, readonly=True).records():
            if record.get("task") in wanted and int(record.get("length", -1)) in view.lengths:
                cells[(record["task"], int(record["length"]))].append(record)
    except (ResultsError, ValueError, OSError) as exc:
        view.notes.append(f"samples.jsonl unreadable, no drill-down: {exc}")
        return
    sessions = view.run.record.get("sessions") or [{}]
    rebuilder = PromptRebuilder(view.run.config, sessions[-1].get("provenance") or {})
    for task in view.tasks:
        for length in view.lengths:
            records = sorted(cells.get((task, length), []), key=lambda r: int(r.get("index", 0)))
            for r in records:
                depth = (r.get("extra") or {}).get("answer_depth")
                if task.startswith("niah") and depth is not None:
                    view.depth_points.append((length, float(depth), float(r.get("score", 0.0))))
            if not records:
                continue
            chosen = sorted(records, key=lambda r: (float(r.get("score", 0)) >= 100, int(r.get("index", 0))))
            chosen = sorted(chosen[:per_cell], key=lambda r: int(r.get("index", 0)))
            cell = (view.summary["scores"].get(task) or {}).get(str(length)) or {}
            view.drill.append(
                DrillCell(
                    task,
                    length,
                    cell.get("score"),
                    len(records),
                    sum(1 for r in records if float(r.get("score", 0)) < 100),
                    [_drill_sample(r, rebuilder) for r in chosen],
                )
            )


def _drill_sample(record: dict[str, Any], rebuilder: PromptRebuilder) -> DrillSample:
    return DrillSample(
        id=str(record.get("id")),
        index=int(record.get("index", 0)),
        score=float(record.get("score", 0.0)),
        prediction=str(record.get("prediction", "")),
        references=[str(r) for r in record.get("references") or []],
        depth=(record.get("extra") or {}).get("answer_depth"),
        prompt_tokens=record.get("prompt_tokens"),
        finish_reason=record.get("finish_reason"),
        excerpt=rebuilder.excerpt(record),
    )


# ------------------------------------------------------------------------------------------------ leaderboard


def _claimed(summary: dict[str, Any]) -> str | None:
    """The longest prompt the runner accepts (its max_length), our stand-in for a model's claimed length."""
    length = (summary.get("runner") or {}).get("max_length")
    return format_length(int(length)) if isinstance(length, int) and length > 0 else None


def leaderboard_lengths(views: list[RulerView]) -> list[int]:
    """The columns of the RULER leaderboard: every length measured, and RULER's 4K-256K ladder."""
    lengths = {length for v in views for length in v.lengths}
    return sorted(lengths | set(RULER_AVG_LENGTHS) | {262144})


def leaderboard_rows(views: list[RulerView], lengths: list[int]) -> list[dict[str, Any]]:
    """RULER-README-style rows: ours (with CIs) then the published ones, each with per-length cells."""
    rows = []
    for v in views:
        at = v.score_at()
        rows.append(
            {
                "name": v.model.name,
                "detail": f"{v.model.runner} · {v.summary.get('template', 'base')} template",
                "page": v.page,
                "published": False,
                "claimed": _claimed(v.summary),
                "effective": v.effective.get("label", "-"),
                "effective_sort": v.effective.get("value") or 0,
                "effective_ci": v.effective.get("ci_text", ""),
                "cells": [{"score": at.get(x), "classes": heat_class(at.get(x), v.threshold)} for x in lengths],
                "avg": v.averages.get("avg"),
                "wavg_inc": v.averages.get("wavg_inc"),
                "wavg_dec": v.averages.get("wavg_dec"),
                "avg_ci": ci_text((v.averages.get("ci95") or {}).get("avg")),
                "avg_over": f"{format_length(min(v.lengths))}-{format_length(max(v.lengths))}",
                "status": v.run.status,
            }
        )
    for p in PUBLISHED:
        scores = ruler_scores(p)
        tested = sorted(scores)
        effective = effective_length(scores, THRESHOLD)
        averages = length_averages({x: scores[x] for x in RULER_AVG_LENGTHS if x in scores})
        rows.append(
            {
                "name": p.name,
                "detail": RULER_SOURCE,
                "page": None,
                "published": True,
                "claimed": p.claimed,
                "effective": effective_label(effective, tested),
                "effective_sort": effective or 0,
                "effective_ci": "",
                "last_passing": last_passing_length(scores, THRESHOLD),
                "cells": [{"score": scores.get(x), "classes": heat_class(scores.get(x))} for x in lengths],
                "avg": averages.get("avg"),
                "wavg_inc": averages.get("wavg_inc"),
                "wavg_dec": averages.get("wavg_dec"),
                "avg_ci": "",
                "avg_over": "4K-128K",
                "status": "published",
            }
        )
    return rows
