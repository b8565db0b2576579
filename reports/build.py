"""Run directories -> the report's tables: one view per run, and the overview (one row per model, measured rows
first, then the papers' published rows, clearly marked), also as a pandas DataFrame for CSV/JSON export.

Ranks tie when confidence intervals overlap (LMArena's rule: 1 + the number of models whose lower bound is above
this model's upper bound), and only runs that measured the same thing are ranked together: RULER runs with the same
tasks and lengths, Arena-Hard runs with the same baseline, judge and judge prompt.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jamba_eval.config import format_length
from jamba_eval.reports import efficiency
from jamba_eval.reports.published import (
    ARENA_SOURCE,
    PUBLISHED,
    RULER_AVG_LENGTHS,
    RULER_SOURCE,
    academic_published,
    load_academic_suites,
    published_model,
    ruler_scores,
)
from jamba_eval.reports.ruler_tables import SAMPLES_PER_CELL, RulerView, ci_text, fmt, ruler_view
from jamba_eval.reports.runs import Run, load_runs
from jamba_eval.reports.tables import (
    AcademicView,
    ArenaView,
    BenchView,
    academic_view,
    arena_view,
    bench_model_configs,
    bench_view,
    throughput_at,
)
from jamba_eval.ruler.aggregate import THRESHOLD, effective_length, length_averages
from jamba_eval.ruler.summary import effective_label
from jamba_eval.tasks.arena.leaderboard import overlap_ranks

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Column:
    id: str
    title: str
    group: str
    help: str = ""

    @property
    def name(self) -> str:
        """The column's name in the CSV/JSON export."""
        return f"{self.group} {self.title}"


@dataclasses.dataclass
class Cell:
    text: str = "-"
    sort: float | None = None
    ci: str = ""
    title: str = ""
    link: str | None = None
    published: bool = False
    verified: bool = True
    analytic: bool = False  # computed here (e.g. the memory calculator), neither measured nor published


@dataclasses.dataclass
class OverviewRow:
    name: str
    key: str
    published: bool
    source: str
    links: list[tuple[str, str]]  # (kind, page)
    cells: dict[str, Cell]
    same_as: str | None = None  # the published row of the same model, for a measured row


@dataclasses.dataclass
class Report:
    runs: list[Run]
    warnings: list[str]
    ruler: list[RulerView]
    academic: list[AcademicView]
    arena: list[ArenaView]
    bench: list[BenchView]
    columns: list[Column]
    rows: list[OverviewRow]

    def frame(self) -> pd.DataFrame:
        """The overview as numbers (sort values), one row per model: the CSV/JSON export."""
        records = []
        for row in self.rows:
            record: dict[str, Any] = {"model": row.name, "published": row.published, "source": row.source}
            for column in self.columns:
                cell = row.cells.get(column.id)
                record[column.name] = cell.sort if cell else None
            records.append(record)
        names = ["model", "published", "source", *(c.name for c in self.columns)]
        return pd.DataFrame.from_records(records, columns=names)


VIEWS = {"ruler": ruler_view, "academic": academic_view, "arena": arena_view, "bench": bench_view}


def build_report(
    paths: Iterable[str | Path], samples_per_cell: int = SAMPLES_PER_CELL, exclude: Path | None = None
) -> Report:
    """Load every run under `paths` (none inside `exclude`, the output folder) and build all tables."""
    runs, warnings = load_runs(list(paths), exclude)
    views: dict[str, list[Any]] = {kind: [] for kind in VIEWS}
    kept = []
    for run in runs:
        try:
            view = ruler_view(run, samples_per_cell) if run.kind == "ruler" else VIEWS[run.kind](run)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            warnings.append(f"{run.path}: skipped, its summary.json is not a {run.kind} summary ({exc!r})")
            continue
        views[run.kind].append(view)
        kept.append(run)
    report = Report(kept, warnings, views["ruler"], views["academic"], views["arena"], views["bench"], [], [])
    report.columns, report.rows = overview(report)
    return report


# ------------------------------------------------------------------------------------------------- overview


def _latest(views: list[Any]) -> Any:
    """The newest complete run, else the newest one."""
    return sorted(views, key=lambda v: (v.run.status == "complete", v.run.updated))[-1]


def _rank(entries: list[tuple[str, tuple, float | None, float | None]]) -> dict[str, int]:
    """key -> rank within its comparable group, from (key, group, lower, upper)."""
    ranks: dict[str, int] = {}
    groups: dict[tuple, list[tuple[str, float, float]]] = {}
    for key, group, lower, upper in entries:
        if lower is not None and upper is not None:
            groups.setdefault(group, []).append((key, lower, upper))
    for members in groups.values():
        lower = np.array([m[1] for m in members], dtype=float)
        upper = np.array([m[2] for m in members], dtype=float)
        for (key, _, _), rank in zip(members, overlap_ranks(lower, upper), strict=True):
            if rank is not None:
                ranks[key] = rank
    return ranks


def overview(report: Report) -> tuple[list[Column], list[OverviewRow]]:
    by_model: dict[str, dict[str, list[Any]]] = {}
    names: dict[str, str] = {}
    for kind, views in (("ruler", report.ruler), ("academic", report.academic), ("arena", report.arena)):
        for view in views:
            by_model.setdefault(view.model.key, {}).setdefault(kind, []).append(view)
            names.setdefault(view.model.key, view.model.name)
    bench_labels: dict[str, list[tuple[BenchView, str]]] = {}
    for view in report.bench:
        for ref in view.run.models():
            by_model.setdefault(ref.key, {}).setdefault("bench", []).append(view)
            names.setdefault(ref.key, ref.name)
            bench_labels.setdefault(ref.key, []).append((view, ref.label))

    academic_labels: list[str] = []
    for view in report.academic:
        academic_labels += [r["label"] for r in view.rows if r["label"] not in academic_labels]
    columns = [
        Column(
            "ruler_eff",
            "Effective length",
            "RULER",
            f"longest length with score > {THRESHOLD} there and at every shorter length; 95% CI from the bootstrap",
        ),
        Column("ruler_avg", "Avg", "RULER", "mean over the run's lengths (published rows: 4K-128K, as RULER)"),
        Column("ruler_wavg_inc", "wAvg (inc)", "RULER", "lengths weighted 1..n (long contexts count more)"),
        Column("ruler_wavg_dec", "wAvg (dec)", "RULER", "lengths weighted n..1"),
        Column("ruler_rank", "Rank", "RULER", "by Avg; ties when 95% CIs overlap; same tasks and lengths only"),
        *[Column(f"academic:{label}", label, "Academic") for label in academic_labels],
        Column("arena", "Score", "Arena-Hard", "win rate against the run's baseline, 95% bootstrap CI"),
        Column("arena_rank", "Rank", "Arena-Hard", "ties when 95% CIs overlap; same baseline and judge only"),
        Column("prefill_128k", "Prefill tok/s @128K", "Efficiency", "batch 1, from `jamba-eval bench throughput`"),
        Column("decode_128k", "Decode tok/s @128K", "Efficiency", "batch 1, from `jamba-eval bench throughput`"),
        Column(
            "max_context",
            "Max context, 1x80 GB",
            "Efficiency",
            "analytic: weights + KV cache + Mamba state within 90% of 80 GiB, batch 1, 16-bit KV cache",
        ),
    ]

    chosen = {
        key: {kind: _latest(v) for kind, v in kinds.items() if kind != "bench"} for key, kinds in by_model.items()
    }
    ruler_ranks = _rank(
        [
            (
                key,
                c["ruler"].comparable,
                *_pair((c["ruler"].averages.get("ci95") or {}).get("avg"), c["ruler"].averages.get("avg")),
            )
            for key, c in chosen.items()
            if "ruler" in c
        ]
    )
    arena_ranks = _rank(
        [
            (key, c["arena"].comparable, c["arena"].summary.get("lower"), c["arena"].summary.get("upper"))
            for key, c in chosen.items()
            if "arena" in c
        ]
    )
    rows = []
    for key, kinds in by_model.items():
        c = chosen[key]
        cells: dict[str, Cell] = {}
        links: list[tuple[str, str]] = []
        if "ruler" in c:
            _ruler_cells(cells, c["ruler"], len(kinds["ruler"]), ruler_ranks.get(key))
            links.append(("RULER", c["ruler"].page))
        if "academic" in c:
            for view in sorted(kinds["academic"], key=lambda v: v.run.updated):
                for row in view.rows:
                    if row["value"] is not None:
                        cells[f"academic:{row['label']}"] = Cell(
                            f"{row['value']:.1f}",
                            row["value"],
                            f"± {row['stderr']:.1f}" if row.get("stderr") is not None else "",
                            f"{row['metric']}, {row.get('num_fewshot') or 'default'}-shot",
                            f"academic.html#{view.run.slug}",
                        )
            links.append(("academic", f"academic.html#{c['academic'].run.slug}"))
        if "arena" in c:
            a = c["arena"]
            s = a.summary
            cells["arena"] = Cell(
                fmt(s.get("score")),
                s.get("score"),
                ci_text([s.get("lower"), s.get("upper")]),
                f"vs {s.get('baseline')}, judge {s.get('judge')}, {s.get('questions')} questions",
                f"arena.html#{a.anchor}",
            )
            if key in arena_ranks:
                cells["arena_rank"] = Cell(str(arena_ranks[key]), arena_ranks[key])
            links.append(("Arena-Hard", f"arena.html#{a.anchor}"))
        config = None
        for view, label in bench_labels.get(key, []):
            found = throughput_at([view], label)
            if found and found["prefill"] is not None:
                cells["prefill_128k"] = Cell(
                    fmt(found["prefill"], 0), found["prefill"], link=f"efficiency.html#{view.anchor}"
                )
                cells["decode_128k"] = Cell(
                    fmt(found["decode"], 1), found["decode"], link=f"efficiency.html#{view.anchor}"
                )
            config = config or bench_model_configs(view.run).get(label)
        if bench_labels.get(key):
            links.append(("efficiency", f"efficiency.html#{bench_labels[key][0][0].anchor}"))
        _max_context_cell(cells, key, config or _local_config(kinds))
        rows.append(OverviewRow(names[key], key, False, "measured", links, cells, matches_published(key)))
    rows.sort(key=lambda r: (r.cells.get("ruler_rank", Cell()).sort or 1e9, r.name.casefold()))
    rows += _published_rows(academic_labels)
    return columns, rows


def _pair(ci: Any, value: float | None) -> tuple[float | None, float | None]:
    if ci and None not in ci[:2]:
        return float(ci[0]), float(ci[1])
    return value, value


def _ruler_cells(cells: dict[str, Cell], view: RulerView, runs: int, rank: int | None) -> None:
    eff = view.effective
    more = f" (newest of {runs} RULER runs)" if runs > 1 else ""
    cells["ruler_eff"] = Cell(
        eff.get("label", "-"),
        eff.get("value") or 0,
        eff.get("ci_text", ""),
        f"last passing length: {eff.get('last_passing_label')}; lengths "
        f"{format_length(min(view.lengths))}-{format_length(max(view.lengths))}{more}",
        view.page,
    )
    over = f"over {format_length(min(view.lengths))}-{format_length(max(view.lengths))}"
    ci = view.averages.get("ci95") or {}
    for key in ("avg", "wavg_inc", "wavg_dec"):
        value = view.averages.get(key)
        cells[f"ruler_{key}"] = Cell(fmt(value), value, ci_text(ci.get(key)), over, view.page)
    if rank is not None:
        cells["ruler_rank"] = Cell(str(rank), rank)


def _local_config(kinds: dict[str, list[Any]]) -> dict[str, Any] | None:
    for views in kinds.values():
        for view in views:
            for ref_model in [view.run.config.get("model") or {}]:
                found = efficiency.local_hf_config(str(ref_model.get("model", "")))
                if found:
                    return found
    return None


def _max_context_cell(cells: dict[str, Cell], key: str, config: dict[str, Any] | None) -> None:
    preset = efficiency.preset_name(key)
    fit = efficiency.max_context(preset if preset else config)
    if fit:
        text, sort, details = efficiency.max_context_text(fit)
        source = f"preset {preset}" if preset else "the model's config.json"
        cells["max_context"] = Cell(
            text, sort, title=f"analytic, from {source}: {details}", link="efficiency.html#fits", analytic=True
        )


def _published_rows(academic_labels: list[str]) -> list[OverviewRow]:
    try:
        academic = academic_published(load_academic_suites())
    except Exception as exc:  # the suites ship with the package; a broken one must not stop the report
        log.warning("academic suites unreadable, no published academic numbers: %s", exc)
        academic = {}
    rows = []
    for p in PUBLISHED:
        cells: dict[str, Cell] = {}
        scores = ruler_scores(p)
        if scores:
            effective = effective_length(scores, THRESHOLD)
            cells["ruler_eff"] = Cell(
                effective_label(effective, sorted(scores)), effective or 0, title=RULER_SOURCE, published=True
            )
            averages = length_averages({x: scores[x] for x in RULER_AVG_LENGTHS if x in scores})
            for key, value in averages.items():
                cells[f"ruler_{key}"] = Cell(fmt(value), value, title="over 4K-128K; " + RULER_SOURCE, published=True)
        if p.arena is not None:
            cells["arena"] = Cell(
                fmt(p.arena),
                p.arena,
                title=ARENA_SOURCE + ("" if p.arena_verified else " (transcribed, not re-verified)"),
                published=True,
                verified=p.arena_verified,
            )
        for label in academic_labels:
            if p.key in academic.get(label, {}):
                value, verified, source = academic[label][p.key]
                cells[f"academic:{label}"] = Cell(
                    fmt(value),
                    value,
                    title=source + ("" if verified else " (not re-verified)"),
                    published=True,
                    verified=verified,
                )
        _max_context_cell(cells, p.key, None)
        rows.append(OverviewRow(p.name, p.key, True, "published", [], cells))
    return rows


def matches_published(key: str) -> str | None:
    """The published model a measured one is (for a note beside its name)."""
    found = published_model(key)
    return found.name if found else None
