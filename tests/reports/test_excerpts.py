"""The drill-down's prompt excerpts: rebuilt from the run, checked against the hashes the run recorded."""

from __future__ import annotations

import copy
import hashlib
import html

from jamba_eval.reports.excerpts import PromptRebuilder, excerpt_of
from jamba_eval.results import RunDir


def rebuilder_for(path) -> tuple[PromptRebuilder, list[dict]]:
    run = RunDir.load(path)
    record = run.config_record
    return PromptRebuilder(record["config"], record["sessions"][-1]["provenance"]), list(run.samples().records())


def test_excerpt_is_cut_around_the_first_reference_found():
    prompt = "a" * 1000 + " the magic number is 4242. " + "b" * 1000 + "\nWhat is the magic number?"
    e = excerpt_of(prompt, ["nope", "4242"])
    assert e.match == "4242" and e.offset == prompt.index("4242") and e.prompt_chars == len(prompt)
    assert e.before.startswith("…") and e.before.endswith("the magic number is ") and len(e.before) == 321
    assert e.after.startswith(". ") and e.after.endswith("…")
    assert e.question.endswith("What is the magic number?")
    assert abs(e.depth - prompt.index("4242") / len(prompt)) < 1e-9
    missing = excerpt_of("short prompt", ["zzz"])
    assert missing.match == "" and missing.offset is None and missing.before == "short prompt"
    assert excerpt_of("Value: ABC.", ["abc"]).match == "ABC"  # references match case-insensitively, as scored


def test_every_prompt_is_rebuilt_exactly(results):
    rebuilder, records = rebuilder_for(results / "ruler" / "strong-model")
    assert len(records) == 36
    for record in records:
        prompt = rebuilder.prompt(record)
        assert hashlib.sha256(prompt.encode()).hexdigest() == record["prompt_sha256"], record["id"]


def test_a_prompt_that_does_not_rebuild_is_not_shown(results):
    rebuilder, records = rebuilder_for(results / "ruler" / "strong-model")
    tampered = {**records[0], "sample_sha256": "0" * 64}
    assert "differs from the one the run scored" in rebuilder.excerpt(tampered).error


def test_missing_inputs_give_one_reason(results, tmp_path):
    run = RunDir.load(results / "ruler" / "strong-model")
    record = run.config_record
    records = list(run.samples().records())
    essay = next(r for r in records if r["task"] == "niah_single_2")
    config = {**copy.deepcopy(record["config"]), "haystack_file": str(tmp_path / "gone.txt")}
    rebuilder = PromptRebuilder(config, record["sessions"][-1]["provenance"])
    first = rebuilder.excerpt(essay)
    assert first.error.startswith("prompt not shown:") and "gone.txt" in first.error
    assert rebuilder.excerpt(essay).error == first.error  # said once, not retried per sample

    elsewhere = {"runner": "torch", "model": "org/not-here", "model_args": {}}
    config = {**copy.deepcopy(record["config"]), "model": elsewhere}
    rebuilder = PromptRebuilder(config, {"runner": {"tokenizer": "org/not-here"}})
    assert "tokenizer of 'org/not-here'" in rebuilder.excerpt(records[0]).error


def test_the_page_marks_the_needle_in_the_excerpt(site, results):
    page = (site.index.parent / "ruler" / "ruler-strong-model.html").read_text()
    _, records = rebuilder_for(results / "ruler" / "strong-model")
    niah = [r for r in records if r["task"] == "niah_single_1" and r["length"] == 4096]
    for record in niah:
        assert f"<mark>{html.escape(record['references'][0])}</mark>" in page
        assert f"<code>{record['id']}</code>" in page
