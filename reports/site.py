"""`jamba-eval report`: write the static site (HTML pages, plots, the stylesheet and sorting script, copies of
the runs' raw JSON) into one folder that works offline, from `file://`, without JavaScript.

Pages are jinja2 templates with autoescaping on for every template, so model output, model names and judge replies
are always text. A Content-Security-Policy allows nothing but the site's own files (no inline script, no CDN).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from jamba_eval.config import format_length
from jamba_eval.errors import UserError
from jamba_eval.reports import efficiency, plots
from jamba_eval.reports.build import Report, build_report
from jamba_eval.reports.published import RULER_SOURCE
from jamba_eval.reports.ruler_tables import SAMPLES_PER_CELL, fmt, leaderboard_lengths, leaderboard_rows
from jamba_eval.reports.runs import SITE_MARKER, Run

log = logging.getLogger(__name__)

MARKER = SITE_MARKER
RAW_FILES = ("config.json", "summary.json", "samples.jsonl", "answers.jsonl", "tasks.jsonl", "models.jsonl")
RAW_LIMIT = 200 * 2**20  # bytes: bigger files are linked to where they are, not copied
NAV = (
    ("index", "index.html", "Overview"),
    ("ruler", "ruler.html", "RULER"),
    ("academic", "academic.html", "Academic"),
    ("arena", "arena.html", "Arena-Hard"),
    ("efficiency", "efficiency.html", "Efficiency"),
    ("runs", "runs.html", "Runs"),
)


@dataclasses.dataclass
class Site:
    index: Path
    pages: list[Path]
    warnings: list[str]
    report: Report


def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("jamba_eval.reports", "templates"),
        autoescape=True,  # every template, whatever its file name (select_autoescape would skip *.j2)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    env.filters["tokens"] = lambda x: "-" if x is None else format_length(int(x))
    env.filters["mib"] = lambda x: "-" if x is None else f"{x / 2**20:,.1f}"
    env.filters["rate"] = lambda x: "-" if x is None else (f"{x:,.0f}" if x >= 100 else f"{x:.3g}")
    env.filters["sortkey"] = lambda x: "" if x is None else x
    return env


def _check_output(output: Path, results: list[Path]) -> None:
    """Refuse a folder that holds anything but an earlier report, or that would overwrite the results."""
    output = output.resolve()
    for path in results:
        if output == Path(path).resolve() or Path(path).resolve().is_relative_to(output):
            raise UserError(f"--output {output} would overwrite the results in {path}; choose another folder")
    if output.exists() and not output.is_dir():
        raise UserError(f"--output {output} is a file, not a folder")
    if output.exists() and any(output.iterdir()) and not (output / MARKER).exists():
        raise UserError(f"--output {output} is not empty and holds no jamba-eval report; choose an empty folder")


def _staging(output: Path) -> Path:
    """A sibling folder the site is written into, then renamed: a failed build leaves the old report intact."""
    staging = output.parent / f".{output.name}.building-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    (staging / MARKER).write_text("written by jamba-eval report; the whole folder is replaced on the next build\n")
    return staging


def _publish(staging: Path, output: Path) -> None:
    if output.exists():
        shutil.rmtree(output)
    staging.rename(output)


def _copy_raw(run: Run, output: Path) -> dict[str, str]:
    """Copies of the run's JSON files under raw/<slug>/; name -> site-relative link."""
    target = output / "raw" / run.slug
    links: dict[str, str] = {}
    files = [run.path / name for name in RAW_FILES] + sorted((run.path / "lm_eval").glob("*.json"))
    for source in files:
        if not source.is_file():
            continue
        relative = source.relative_to(run.path)
        if source.stat().st_size > RAW_LIMIT:
            links[str(relative)] = source.resolve().as_uri()
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target / relative)
        links[str(relative)] = f"raw/{run.slug}/{relative}"
    return links


def _build_info(report: Report, results: list[Path]) -> dict[str, Any]:
    import jamba_eval
    from jamba_eval import provenance

    git = provenance.git_info()
    commit = (git.get("commit") or "unknown")[:12] + (" (dirty)" if git.get("dirty") else "")
    return {
        "built_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "version": jamba_eval.__version__,
        "commit": commit,
        "results": [str(p) for p in results],
        "runs": len(report.runs),
    }


def _plots(report: Report, output: Path, warnings: list[str]) -> dict[str, list[str]]:
    """Every figure, as site-relative paths without extension (PNG and SVG exist for each)."""
    made: dict[str, list[str]] = {}

    def attempt(key: str, what: str, fn: Any, *args: Any) -> None:
        try:
            paths = fn(*args)
        except Exception as exc:  # a figure must never take the whole report down
            warnings.append(f"{what}: figure not drawn ({type(exc).__name__}: {exc})")
            log.debug("figure %s failed", what, exc_info=True)
            return
        stems = sorted({str(p.relative_to(output).with_suffix("")) for p in paths})
        made.setdefault(key, []).extend(stems)

    root = output / "plots"
    if report.ruler:
        attempt("ruler_curves", "RULER curves", plots.ruler_curves, report.ruler, root)
    for view in report.ruler:
        attempt(f"heatmap:{view.run.slug}", f"{view.run.path} heatmap", plots.ruler_heatmap, view, root / view.run.slug)
        attempt(f"depth:{view.run.slug}", f"{view.run.path} NIAH depth", plots.niah_depth, view, root / view.run.slug)
    for view in report.arena:
        attempt(f"arena:{view.run.slug}", f"{view.run.path} arena", plots.arena_scores, view, root / view.run.slug)
    for view in report.bench:
        attempt(
            f"bench:{view.run.slug}",
            f"{view.run.path} bench",
            efficiency.plot_bench,
            view.summary,
            root / view.run.slug,
        )
    attempt("kv_table", "KV-cache table", efficiency.plot_kv_table, root / "efficiency")
    return made


def build_site(results: list[Path], output: Path, samples_per_cell: int = SAMPLES_PER_CELL) -> Site:
    """Build the site into `output` (replacing a previous report there) and return where its pages are."""
    results, output = [Path(p) for p in results], Path(output)
    if not results or not any(p.exists() for p in results):
        raise UserError(f"no such results folder: {', '.join(map(str, results)) or '(none given)'}")
    _check_output(output, results)
    report = build_report(results, samples_per_cell, exclude=output)
    staging = _staging(output)
    try:
        pages = _write(report, results, staging)
        _publish(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Site(output / "index.html", [output / p.relative_to(staging) for p in pages], report.warnings, report)


def _write(report: Report, results: list[Path], output: Path) -> list[Path]:
    """Every file of the site into `output`; returns the HTML pages."""
    warnings = report.warnings
    static = Path(__file__).parent / "static"
    shutil.copytree(static, output / "static", ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    raw = {run.slug: _copy_raw(run, output) for run in report.runs}
    figures = _plots(report, output, warnings)
    frame = report.frame()
    frame.to_csv(output / "leaderboard.csv", index=False)
    (output / "leaderboard.json").write_text(frame.to_json(orient="records", indent=1), encoding="utf-8")
    env = environment()
    common = {
        "report": report,
        "raw": raw,
        "figures": figures,
        "build": _build_info(report, results),
        "warnings": warnings,
        "nav": NAV,
        "provenance": {run.slug: run.provenance() for run in report.runs},
    }
    lengths = leaderboard_lengths(report.ruler)
    pages = {
        "index.html": ("index.html.j2", {"page": "index", "page_runs": report.runs}),
        "ruler.html": (
            "ruler.html.j2",
            {
                "page": "ruler",
                "page_runs": [v.run for v in report.ruler],
                "lengths": lengths,
                "leaderboard": leaderboard_rows(report.ruler, lengths),
                "published_source": RULER_SOURCE,
            },
        ),
        "academic.html": ("academic.html.j2", {"page": "academic", "page_runs": [v.run for v in report.academic]}),
        "arena.html": ("arena.html.j2", {"page": "arena", "page_runs": [v.run for v in report.arena]}),
        "efficiency.html": (
            "efficiency.html.j2",
            {
                "page": "efficiency",
                "page_runs": [v.run for v in report.bench],
                "presets": efficiency.preset_table(),
                "efficiency_installed": efficiency.module() is not None,
            },
        ),
        "runs.html": ("runs.html.j2", {"page": "runs", "page_runs": report.runs}),
    }
    for view in report.ruler:
        pages[view.page] = ("ruler_run.html.j2", {"page": "ruler", "page_runs": [view.run], "view": view})
    written = []
    for name, (template, context) in pages.items():
        html = env.get_template(template).render(**common, **context, root="../" * name.count("/"))
        path = output / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
        written.append(path)
    return written


def cli_main(results: list[Path], output: Path) -> Path:
    """Entry point of `jamba-eval report`: build, print one line per skipped run, then where index.html is."""
    site = build_site(results, output)
    for warning in site.warnings:
        log.warning("%s", warning)
    if not site.report.runs:
        log.warning("no usable run directories under %s: the report is empty", ", ".join(map(str, results)))
    counts = {
        kind: sum(1 for r in site.report.runs if r.kind == kind) for kind in ("ruler", "academic", "arena", "bench")
    }
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "no runs"
    print(f"report ({summary}): {site.index}")
    return site.index
