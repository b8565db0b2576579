"""The site built from real run directories: pages, grouping, numbers traced to the summaries, published rows,
raw JSON, partial sets, damaged runs, output-folder safety and the command line."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from jamba_eval.errors import UserError
from jamba_eval.reports.build import build_report
from jamba_eval.reports.site import build_site

from .conftest import run_cli

PAGES = ("index.html", "ruler.html", "academic.html", "arena.html", "efficiency.html", "runs.html")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def summary_of(results: Path, kind: str, name: str) -> dict:
    return json.loads((results / kind / name / "summary.json").read_text())


def test_every_page_is_written_with_its_runs(site, results):
    out = site.index.parent
    for page in PAGES:
        assert (out / page).is_file(), page
    assert sorted(p.name for p in (out / "ruler").glob("*.html")) == [
        "ruler-cli-xss.html",
        "ruler-strong-model.html",
        "ruler-weak-model.html",
    ]
    assert site.warnings == []
    kinds = sorted(run.kind for run in site.report.runs)
    optional = [kind for kind in ("academic", "bench") if (results / kind).exists()]
    assert kinds == sorted(["ruler"] * 3 + ["arena"] + optional)
    # every page carries provenance: version, commit, dates, seeds and sample counts of its runs
    strong = read(out / "ruler" / "ruler-strong-model.html")
    for text in ("jamba-eval 0.1.0", "commit", "created", "seed 42", "36 samples: 4 tasks x 3 lengths x 3 per cell"):
        assert text in strong
    assert "Built " in read(out / "academic.html") and "Built " in read(out / "efficiency.html")


def test_runs_of_one_model_are_one_overview_row(site, results):
    rows = {row.key: row for row in site.report.rows if not row.published}
    assert set(rows) >= {"strong-model", "weak-model"}
    strong = rows["strong-model"]
    kinds = [kind for kind, _ in strong.links]
    assert kinds[:1] == ["RULER"] and "Arena-Hard" in kinds
    if (results / "academic").exists():
        assert "academic" in kinds and strong.cells["academic:toy_mc"].sort is not None
    assert "arena" not in rows["weak-model"].cells  # the weak model has no arena run


def test_overview_numbers_come_from_the_summaries(site, results):
    strong = next(r for r in site.report.rows if r.key == "strong-model")
    ruler = summary_of(results, "ruler", "strong-model")
    assert strong.cells["ruler_eff"].text == ruler["effective_length"]["label"] == "8K"
    assert strong.cells["ruler_eff"].ci == "8K to >16K"  # RULER's wording: >16K passes at the longest length
    assert strong.cells["ruler_avg"].sort == pytest.approx(ruler["averages"]["avg"])
    assert strong.cells["ruler_wavg_inc"].sort == pytest.approx(ruler["averages"]["wavg_inc"])
    arena = summary_of(results, "arena", "strong-model")
    assert strong.cells["arena"].sort == pytest.approx(arena["score"])
    assert strong.cells["arena"].ci == f"[{arena['lower']:.1f}, {arena['upper']:.1f}]"
    # the same numbers in the export
    with open(site.index.parent / "leaderboard.csv", newline="") as f:
        exported = {row["model"]: row for row in csv.DictReader(f)}
    assert float(exported["strong-model"]["RULER Avg"]) == pytest.approx(ruler["averages"]["avg"])
    assert exported["Jamba-1.5-Mini"]["published"] == "True"


def test_ruler_ranks_tie_when_cis_overlap(site):
    ranks = {r.key: r.cells["ruler_rank"].sort for r in site.report.rows if "ruler_rank" in r.cells}
    weak = next(v for v in site.report.ruler if v.model.key == "weak-model").averages["ci95"]["avg"]
    strong = next(v for v in site.report.ruler if v.model.key == "strong-model").averages["ci95"]["avg"]
    assert weak[1] < strong[0]  # the two mock models' intervals are apart...
    assert ranks["strong-model"] == 1 and ranks["weak-model"] == 2  # ...so they do not tie
    assert ranks['script>"><img src=x onerror="window.__pwned = 2">'] == 1  # other lengths: ranked on its own


def test_rank_rule_by_hand():
    from jamba_eval.reports.build import _rank

    entries = [("a", "g", 80, 90), ("b", "g", 85, 95), ("c", "g", 50, 60), ("d", "other", 0, 1), ("e", "g", None, None)]
    assert _rank(entries) == {"a": 1, "b": 1, "c": 3, "d": 1}


def test_published_rows_are_marked_and_recomputed(site):
    published = {r.name: r for r in site.report.rows if r.published}
    assert {"Jamba-1.5-Mini", "Jamba-1.5-Large", "Llama-3.1-70B"} <= set(published)
    # every number in a published row is marked published, except the analytic max context computed here
    assert all(cell.published != cell.analytic for row in published.values() for cell in row.cells.values())
    # effective length recomputed with RULER's rule gives the leaderboard's values
    expected = {"Llama-3.1-70B": "64K", "GPT-4-1106-preview": "64K", "Llama-3.1-8B": "32K", "Mixtral-8x7B": "32K"}
    for name, label in expected.items():
        assert published[name].cells["ruler_eff"].text == label
    assert published["Jamba-1.5-Mini"].cells["ruler_eff"].text == ">256K"  # passes at every length up to 256K
    mini = [95.7, 95.2, 94.7, 93.8, 92.7, 89.8]  # Avg over 4K-128K as the RULER board
    assert published["Jamba-1.5-Mini"].cells["ruler_avg"].sort == pytest.approx(sum(mini) / 6)
    assert published["Llama-3.1-8B"].cells["arena"].verified is False
    index = read(site.index)
    assert index.count('class="published-row"') == len(published)
    assert "published-tag" in index


def test_raw_json_is_copied_and_linked(site, results):
    out = site.index.parent
    for run in site.report.runs:
        copied = out / "raw" / run.slug / "summary.json"
        assert copied.read_bytes() == (run.path / "summary.json").read_bytes()
    page = read(out / "ruler" / "ruler-strong-model.html")
    assert 'href="../raw/ruler-strong-model/samples.jsonl"' in page
    if (results / "academic").exists():
        academic = read(out / "academic.html")
        assert 'href="raw/academic-strong-model/lm_eval/toy_mc-default.json"' in academic
        assert (out / "raw" / "academic-strong-model" / "lm_eval" / "toy_mc-default.json").is_file()


def test_figures_are_png_and_svg(site):
    out = site.index.parent
    for stem in ("plots/ruler_curves", "plots/ruler-strong-model/heatmap", "plots/ruler-strong-model/niah_depth"):
        assert (out / f"{stem}.png").stat().st_size > 1000 and (out / f"{stem}.svg").stat().st_size > 1000
    assert (out / "plots" / "arena-strong-model" / "arena_scores.svg").is_file()
    assert 'src="../plots/ruler-strong-model/heatmap.svg"' in read(out / "ruler" / "ruler-strong-model.html")


def test_only_ruler_is_a_complete_report(results, tmp_path):
    site = build_site([results / "ruler" / "strong-model"], tmp_path / "site")
    assert site.warnings == [] and [r.kind for r in site.report.runs] == ["ruler"]
    for page in PAGES:
        assert (tmp_path / "site" / page).is_file()
    assert "No academic runs in this report." in read(tmp_path / "site" / "academic.html")
    assert "No bench runs in this report." in read(tmp_path / "site" / "efficiency.html")


def damaged_results(results: Path, root: Path) -> Path:
    """A valid run beside runs that are broken in every way a crash or a hand edit can break them."""
    strong = results / "ruler" / "strong-model"
    shutil.copytree(strong, root / "fine")
    (root / "bad-json").mkdir()
    (root / "bad-json" / "config.json").write_text('{"kind": "ruler", ')
    shutil.copytree(strong, root / "no-summary")
    (root / "no-summary" / "summary.json").unlink()
    shutil.copytree(strong, root / "unknown-kind")
    record = json.loads((strong / "config.json").read_text())
    (root / "unknown-kind" / "config.json").write_text(json.dumps({**record, "kind": "frobnicate"}))
    shutil.copytree(strong, root / "wrong-shape")
    summary = json.loads((strong / "summary.json").read_text())
    del summary["lengths"]
    (root / "wrong-shape" / "summary.json").write_text(json.dumps(summary))
    shutil.copytree(strong, root / "damaged-samples")
    lines = (strong / "samples.jsonl").read_text().splitlines()
    lines[3] = lines[3][:40]  # a damaged line in the middle: no drill-down, the scores still show
    (root / "damaged-samples" / "samples.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_damaged_runs_are_skipped_with_one_warning_each(results, tmp_path):
    root = damaged_results(results, tmp_path / "runs")
    site = build_site([root], tmp_path / "site")
    assert sorted(run.path.name for run in site.report.runs) == ["damaged-samples", "fine"]
    warned = sorted(w.split(":")[0].rsplit("/", 1)[-1] for w in site.warnings)
    assert warned == ["bad-json", "no-summary", "unknown-kind", "wrong-shape"]
    assert any("not valid JSON" in w for w in site.warnings)
    damaged = next(v for v in site.report.ruler if v.run.path.name == "damaged-samples")
    assert any("samples.jsonl unreadable" in note for note in damaged.notes) and damaged.drill == []
    assert "4 problems while building this report" in read(site.index)


def test_command_line_prints_where_the_report_is_and_warns(results, tmp_path, capsys):
    root = damaged_results(results, tmp_path / "runs")
    run_cli(["report", str(root), "--output", str(tmp_path / "site")])
    captured = capsys.readouterr()
    assert captured.out.strip() == f"report (2 ruler): {tmp_path / 'site' / 'index.html'}"
    with pytest.raises(RuntimeError, match="exited with 2"):
        run_cli(["report", str(tmp_path / "nowhere"), "--output", str(tmp_path / "site2")])
    assert "no such results folder" in capsys.readouterr().err


def test_output_inside_the_results_is_rebuilt_without_reading_itself(results, tmp_path):
    root = tmp_path / "demo"
    shutil.copytree(results / "ruler" / "strong-model", root / "ruler")
    first = build_site([root], root / "site")
    second = build_site([root], root / "site")  # raw/ copies under site/ must not become runs
    assert len(first.report.runs) == len(second.report.runs) == 1
    assert not list(root.glob(".site.building-*"))


def test_output_folder_that_is_not_a_report_is_refused(results, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(UserError, match="not empty"):
        build_site([results / "ruler" / "strong-model"], precious)
    with pytest.raises(UserError, match="overwrite the results"):
        build_site([results / "ruler"], results / "ruler")
    assert (precious / "thesis.tex").read_text() == "do not delete"


def test_build_report_without_any_run(tmp_path):
    (tmp_path / "empty").mkdir()
    report = build_report([tmp_path / "empty"])
    assert report.runs == [] and [r.published for r in report.rows] == [True] * len(report.rows)


@pytest.mark.parametrize(
    ("given", "key", "published"),
    [
        ("ai21labs/AI21-Jamba-1.5-Mini", "ai21-jamba-1.5-mini", "jamba-1.5-mini"),
        ("/models/AI21-Jamba-1.5-Mini/", "ai21-jamba-1.5-mini", "jamba-1.5-mini"),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", "meta-llama-3.1-8b-instruct", "llama-3.1-8b"),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mixtral-8x7b-instruct-v0.1", "mixtral-8x7b"),
        ("mistralai/Mistral-Large-Instruct-2407", "mistral-large-instruct-2407", "mistral-large-2"),
        ("ai21labs/Jamba-v0.1", "jamba-v0.1", None),
        ("jamba-tiny", "jamba-tiny", None),
    ],
)
def test_model_keys_group_hub_ids_and_local_copies(given, key, published):
    from jamba_eval.reports.published import published_model
    from jamba_eval.reports.runs import model_key

    assert model_key(given) == key
    found = published_model(key)
    assert (found.key if found else None) == published
