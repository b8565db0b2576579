"""run_ruler end to end with the mock runner: a correct responder, a partial one, a silent one; resume; errors."""

import json

import pytest

from jamba_eval.config import ModelConfig
from jamba_eval.errors import UserError
from jamba_eval.results import ResultsError
from jamba_eval.ruler.config import RulerConfig
from jamba_eval.ruler.run import run_ruler
from jamba_eval.ruler.tasks import TASK_NAMES
from jamba_eval.runners.mock import MockRunner

from .conftest import solve


def config(tmp_path, **overrides):
    values = {
        "model": ModelConfig(runner="mock", model="x"),
        "lengths": [8192, 16384],
        "samples": 2,
        "output_dir": tmp_path / "run",
        "bootstrap_rounds": 200,
    }
    return RulerConfig(**{**values, **overrides})


def records(tmp_path):
    lines = (tmp_path / "run" / "samples.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_a_correct_model_scores_100_everywhere(tmp_path, oracle, qa_files):
    runner = MockRunner(responder=lambda prompt: oracle(prompt).upper())  # case does not matter
    summary = run_ruler(config(tmp_path, qa_data=qa_files[0]), runner=runner)
    assert summary["tasks"] == list(TASK_NAMES) and summary["complete"] and summary["finished"]
    for task in TASK_NAMES:
        for length in ("8192", "16384"):
            cell = summary["scores"][task][length]
            assert cell["score"] == 100.0 and cell["n"] == 2 and cell["nulls"] == 0 and cell["ci95"] == [100.0, 100.0]
    assert summary["by_length"]["16384"]["score"] == 100.0
    assert summary["averages"]["avg"] == summary["averages"]["wavg_inc"] == 100.0
    assert summary["effective_length"]["value"] == 16384 and summary["effective_length"]["label"] == ">16K"
    assert summary["effective_length"]["ci95"] == [16384, 16384]
    assert set(summary["categories"]) == {"retrieval", "multi-hop tracing", "aggregation", "qa"}
    assert summary["skipped_tasks"] == {} and summary["note"] == ""
    sets = summary["sample_sets"]
    assert set(sets) == set(TASK_NAMES) and len(sets["vt"]["8192"]["sha256"]) == 64
    rows = records(tmp_path)
    assert len(rows) == 13 * 2 * 2 and len({r["id"] for r in rows}) == len(rows)
    row = rows[0]
    assert row["id"] == "niah_single_1/8192/42/0" and row["score"] == 100.0
    assert row["prompt_tokens"] + 128 <= 8192 and row["runner_prompt_tokens"] == row["prompt_tokens"] + 1  # BOS
    assert {"prompt_sha256", "prediction", "references", "latency_s", "completion_tokens", "units"} <= set(row)
    stored = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert stored["effective_length"]["value"] == 16384
    assert json.loads((tmp_path / "run" / "config.json").read_text())["status"] == "complete"


def test_partial_answers_get_partial_credit(tmp_path, qa_files):
    answers = qa_files[1]
    runner = MockRunner(responder=lambda prompt: " " + solve(prompt, answers)[0])  # only the first reference
    summary = run_ruler(config(tmp_path, qa_data=qa_files[0], lengths=[8192]), runner=runner)
    for row in records(tmp_path):
        expected = 100.0 if row["metric"] == "string_match_part" else 100.0 / len(row["references"])
        assert row["score"] == pytest.approx(expected), row["id"]
    scores = summary["scores"]
    assert scores["niah_single_2"]["8192"]["score"] == 100.0
    assert scores["niah_multivalue"]["8192"]["score"] == 25.0
    assert scores["vt"]["8192"]["score"] == 20.0 and scores["cwe"]["8192"]["score"] == 10.0
    assert scores["fwe"]["8192"]["score"] == 33.33 and scores["qa_2"]["8192"]["score"] == 100.0
    assert summary["effective_length"]["value"] is None and summary["effective_length"]["label"] == "<8K"


def test_a_silent_model_scores_zero_and_qa_is_skipped_without_data(tmp_path, caplog):
    with caplog.at_level("WARNING"):
        summary = run_ruler(config(tmp_path, lengths=[4096]), runner=MockRunner(responder=lambda p: ""))
    assert "qa_1, qa_2 skipped: no QA data found; to run them, pass --qa-data DIR" in caplog.text
    assert summary["tasks"] == [t for t in TASK_NAMES if not t.startswith("qa")]
    assert summary["skipped_tasks"].keys() == {"qa_1", "qa_2"}
    assert summary["note"] == "average covers 11 tasks (qa_1, qa_2 skipped: no QA data)"
    assert summary["by_length"]["4096"]["score"] == 0.0
    assert all(cell["4096"]["nulls"] == 2 for cell in summary["scores"].values())


def test_qa_tasks_asked_for_without_data_are_an_error(tmp_path):
    with pytest.raises(UserError, match="qa_1 needs squad data: pass --qa-data DIR"):
        run_ruler(config(tmp_path, tasks=["qa_1"]), runner=MockRunner())


def test_a_task_that_cannot_fit_is_reported_not_fatal(tmp_path, qa_files):
    summary = run_ruler(
        config(tmp_path, tasks=["niah_single_1", "qa_2"], lengths=[4096, 8192], qa_data=qa_files[0]),
        runner=MockRunner(responder=lambda p: ""),
    )
    assert "qa_2 at 4096 tokens" in summary["unfit"]["qa_2"]["4096"]
    assert "4096" not in summary["by_length"] and "8192" in summary["by_length"]
    assert summary["finished"] and "qa_2 cannot fit 4K" in summary["note"]


def test_resume_asks_only_for_missing_samples(tmp_path):
    tasks = ["niah_single_2", "vt"]
    first = MockRunner(responder=lambda p: "7")
    run_ruler(config(tmp_path, tasks=tasks, samples=2, batch_size=3), runner=first)
    before = records(tmp_path)
    asked_first = sum(len(batch) for batch in first.calls)
    assert asked_first == 2 * 2 * 2
    again = MockRunner(responder=lambda p: "7")
    run_ruler(config(tmp_path, tasks=tasks, samples=2), runner=again)
    assert again.calls == []  # nothing left to do
    more = MockRunner(responder=lambda p: "7")
    summary = run_ruler(config(tmp_path, tasks=tasks, samples=3, batch_size=2), runner=more)
    assert sum(len(batch) for batch in more.calls) == 2 * 2  # only index 2 of each cell
    after = records(tmp_path)
    assert after[: len(before)] == before and len(after) == len(before) + 4
    assert {r["index"] for r in after[len(before) :]} == {2}
    assert summary["scores"]["vt"]["16384"]["n"] == 3


def test_resume_refuses_a_different_experiment(tmp_path):
    run_ruler(config(tmp_path, tasks=["vt"], lengths=[8192]), runner=MockRunner())
    with pytest.raises(ResultsError, match="seed"):
        run_ruler(config(tmp_path, tasks=["vt"], lengths=[8192], seed=1), runner=MockRunner())
    with pytest.raises(ResultsError, match="already holds a run"):
        run_ruler(config(tmp_path, tasks=["vt"], lengths=[8192], resume=False), runner=MockRunner())


def test_resume_refuses_other_weights_under_the_same_name(tmp_path):
    """A retrained checkpoint in the same folder (or a new jamba-tiny after an upgrade) must not reuse samples."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"old weights")
    model = ModelConfig(runner="mock", model=str(folder))
    run_ruler(config(tmp_path, model=model, tasks=["vt"], lengths=[8192]), runner=MockRunner())
    run_ruler(config(tmp_path, model=model, tasks=["vt"], lengths=[8192]), runner=MockRunner())  # same: resumes
    (folder / "model.safetensors").write_bytes(b"new weights")
    with pytest.raises(ResultsError, match="weights"):
        run_ruler(config(tmp_path, model=model, tasks=["vt"], lengths=[8192]), runner=MockRunner())


def test_lengths_beyond_the_model_are_refused(tmp_path):
    with pytest.raises(UserError, match="takes at most 8192 tokens; drop 16K"):
        run_ruler(config(tmp_path), runner=MockRunner(max_length=8192))


def test_chat_template_prompts_are_sent_as_token_ids(tmp_path):
    runner = MockRunner(responder=lambda p: "")
    run_ruler(config(tmp_path, tasks=["fwe"], lengths=[8192], samples=1, template="chat"), runner=runner)
    [[request]] = runner.calls
    assert isinstance(request.prompt, list) and request.prompt[0] == runner.tokenizer.special_ids["<|user|>"]
    assert request.max_new_tokens == 50 and request.temperature == 0.0 and request.stop == []
    row = records(tmp_path)[0]
    assert row["runner_prompt_tokens"] == row["prompt_tokens"]  # no BOS added: the template carries its tokens


def test_config_defaults_and_validation():
    cfg = RulerConfig(max_len=262144)
    assert cfg.resolved_lengths() == [4096 * 2**i for i in range(7)]
    assert RulerConfig(max_len=100_000).resolved_lengths()[-2:] == [65536, 100_000]
    assert RulerConfig(lengths=[8192, 4096, 8192]).resolved_lengths() == [4096, 8192]
    assert str(cfg.default_output_dir()) == "runs/ruler/torch-jamba-tiny"
    assert str(RulerConfig(template="jamba").default_output_dir()) == "runs/ruler/torch-jamba-tiny-jamba"
    for bad in ({"samples": 0}, {"tasks": ["niah"]}, {"template": "x"}, {"lengths": [100]}, {"verify": "some"}):
        with pytest.raises(UserError):
            RulerConfig(**bad)
