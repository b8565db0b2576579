"""The report of a real model run: RULER on the embedded jamba-tiny through the torch runner (skipped, with the
reason, until our Jamba is installed)."""

from __future__ import annotations

import json

import pytest

from jamba_eval.reports.site import build_site

from .conftest import run_cli


def test_jamba_tiny_ruler_run_reports_with_rebuilt_prompts(tmp_path, monkeypatch):
    pytest.importorskip("jamba_eval.model.generate", reason="our Jamba (jamba-tiny) is not installed yet")
    monkeypatch.setenv("JAMBA_EVAL_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "runs" / "ruler"
    run_cli(["run", "ruler", "--model", "jamba-tiny", "--lengths", "4k", "--samples", "2",
             "--tasks", "niah_single_2,niah_multikey_2,vt", "--output-dir", str(run)])  # fmt: skip
    site = build_site([tmp_path / "runs"], tmp_path / "site")
    assert site.warnings == []
    (view,) = site.report.ruler
    assert view.model.key == "jamba-tiny" and view.model.runner == "torch"
    records = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    shown = [s for cell in view.drill for s in cell.samples]
    assert len(shown) == len(records) == 6
    assert all(s.excerpt.error is None and s.excerpt.match for s in shown)  # the byte tokenizer rebuilds every prompt
    page = (tmp_path / "site" / view.page).read_text()
    assert "Runner <code>torch</code>" in page and "jamba-tiny" in page
    assert next(r for r in site.report.rows if r.key == "jamba-tiny").cells["ruler_eff"].text == view.effective["label"]
