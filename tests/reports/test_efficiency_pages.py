"""Bench runs on the efficiency page and in the overview, through the efficiency task's own plots and calculator
(skipped, with the reason, when the efficiency task is not installed)."""

from __future__ import annotations

import json

import pytest

from jamba_eval.reports import efficiency
from jamba_eval.reports.tables import throughput_at

pytest.importorskip("jamba_eval.tasks.efficiency.bench", reason="the efficiency task is not installed")


def test_bench_run_is_tabled_plotted_and_linked(site, results):
    out = site.index.parent
    summary = json.loads((results / "bench" / "tiny" / "summary.json").read_text())
    page = (out / "efficiency.html").read_text()
    view = next(v for v in site.report.bench)
    assert len(view.rows) == 3 == len(summary["table"])
    for stem in ("throughput_vs_context", "memory_vs_context"):
        assert (out / "plots" / view.run.slug / f"{stem}.svg").is_file()
        assert f'src="plots/{view.run.slug}/{stem}.svg"' in page
    label = summary["models"][0]["label"]
    at_512 = next(r for r in summary["table"] if r["length"] == 512)
    found = throughput_at(site.report.bench, label, 512)
    assert found["prefill"] == at_512["prefill_tok_s"] and found["decode"] == at_512["decode_tok_s"]
    assert throughput_at(site.report.bench, label) is None  # not measured at 128K: the overview shows "-"
    assert 'href="raw/bench-tiny/models.jsonl"' in page


def test_max_context_comes_from_the_calculator(site):
    row = next(r for r in site.report.rows if not r.published and "max_context" in r.cells)
    cell = row.cells["max_context"]
    assert cell.analytic and not cell.published and "config.json" in cell.title
    mini = next(r for r in site.report.rows if r.name == "Jamba-1.5-Mini")
    expected = efficiency.max_context("jamba-1.5-mini")
    assert expected["bf16"] == 0  # 52B parameters in bf16 do not fit one 80 GB GPU
    assert mini.cells["max_context"].sort == expected["experts-int8"] > 200_000
    names = [p["name"] for p in efficiency.preset_table()]
    assert "jamba-1.5-mini" in names and "llama-3.1-70b" in names
    assert (site.index.parent / "plots" / "efficiency" / "kv_cache_table1.svg").is_file()
