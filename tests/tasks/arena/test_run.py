"""The arena pipeline with mock runners: answers, judging (positions, retry, unparsable), resume, rescoring, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jamba_eval.cli import main
from jamba_eval.config import ModelConfig
from jamba_eval.errors import UserError
from jamba_eval.results import RunDir
from jamba_eval.runners.mock import MockRunner
from jamba_eval.tasks.arena import ArenaConfig, JudgeConfig, cli_score, rescore, run_arena
from jamba_eval.tasks.arena import run as arena_run
from jamba_eval.tasks.arena.judge import RETRY_MESSAGE

QUESTIONS = {
    "q1": "Explain recursion.",
    "q2": "Name a prime number.",
    "q3": "Write a limerick.",
    "q4": "Judge this with nonsense please.",
    "q5": "Judge this late please.",
    "q6": "Sort a list in Python.",
}


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def bench(tmp_path) -> Path:
    """Questions in the current Arena-Hard format and baseline answers in the v0.1 format, Arena-Hard's layout."""
    root = tmp_path / "bench"
    (root / "model_answer").mkdir(parents=True)
    write_jsonl(root / "question.jsonl", [{"uid": k, "category": "test", "prompt": v} for k, v in QUESTIONS.items()])
    write_jsonl(
        root / "model_answer" / "base-model.jsonl",
        [
            {
                "question_id": k,
                "model_id": "base-model",
                "choices": [{"turns": [{"content": f"plain {k}", "token_len": 3}]}],
            }
            for k in QUESTIONS
        ],
    )
    return root / "question.jsonl"


def model_answer(prompt: str) -> str:
    """The model under test: a GOOD answer to the first three questions, a weak one otherwise."""
    for qid, question in QUESTIONS.items():
        if question in prompt:
            return f"GOOD {qid}" if qid in ("q1", "q2", "q3") else f"meh {qid}"
    raise AssertionError("unknown question")


def make_judge(answers_in):
    def judge(prompt: str) -> str:
        if "nonsense" in prompt:
            return "colourless green ideas sleep furiously"
        if "late" in prompt and RETRY_MESSAGE not in prompt:
            return "Let me think about this for a long ti"
        a, b = answers_in(prompt)
        if "GOOD" in a:
            return "Thinking... A is clearly better. [[A>>B]]"
        if "GOOD" in b:
            return "Thinking... B is clearly better. [[B>>A]]"
        return "The plain one is a little better: " + ("[[A>B]]" if a.startswith("plain") else "[[B>A]]")

    return judge


class Runners:
    """Stands in for `load_runner`: mock runners for the model and the judge, counting what was loaded."""

    def __init__(self, answers_in, judge_fails_after: int | None = None):
        self.model = MockRunner(responder=model_answer)
        respond = make_judge(answers_in)
        self.judge_calls = 0

        def judge(prompt: str) -> str:
            self.judge_calls += 1
            if judge_fails_after is not None and self.judge_calls > judge_fails_after:
                raise ConnectionError("judge endpoint went away")
            return respond(prompt)

        self.judge = MockRunner(responder=judge)
        self.loaded: list[str] = []

    def __call__(self, model_config):
        self.loaded.append(model_config.model)
        return self.judge if model_config.model == "the-judge" else self.model


def config(bench: Path | None, out: Path, **kwargs) -> ArenaConfig:
    values = {
        "model": ModelConfig(runner="mock", model="my-model"),
        "questions": bench,
        "baseline": "base-model",
        "judge": JudgeConfig(runner="mock", model="the-judge", model_args={"api_key": "sk-secret", "base_url": "u1"}),
        "rounds": 20,
        "batch_size": 4,
        "output_dir": out,
    }
    return ArenaConfig(**{**values, **kwargs})


def test_run_answers_judges_and_scores(bench, tmp_path, monkeypatch, answers_in):
    runners = Runners(answers_in)
    monkeypatch.setattr(arena_run, "load_runner", runners)
    summary = run_arena(config(bench, tmp_path / "run"))

    run = RunDir.load(tmp_path / "run")
    answers = {r["id"]: r for r in run.samples("answers").records()}
    assert len(answers) == 12
    assert answers["base-model/q1"]["answer"] == "plain q1" and answers["base-model/q1"]["tokens"] == 3
    assert answers["my-model/q1"]["answer"] == "GOOD q1" and answers["my-model/q1"]["tokens"] == len("GOOD q1")
    judgments = {r["id"]: r for r in run.samples("samples").records()}
    assert len(judgments) == 12
    # game 1: baseline is A; game 2: the model is A
    assert judgments["my-model/q1/1"]["verdict"] == "B>>A" and judgments["my-model/q1/2"]["verdict"] == "A>>B"
    assert judgments["my-model/q6/1"]["verdict"] == "A>B" and judgments["my-model/q6/2"]["verdict"] == "B>A"
    assert judgments["my-model/q4/1"]["verdict"] == "" and len(judgments["my-model/q4/1"]["replies"]) == 2
    assert judgments["my-model/q5/2"]["status"] == "ok" and len(judgments["my-model/q5/2"]["replies"]) == 2

    assert summary["unparsable"] == 2 and summary["games"] == 12 and summary["questions"] == 6
    assert summary["judge"] == "the-judge" and summary["baseline"] == "base-model" and summary["rounds"] == 20
    rows = {row["model"]: row for row in summary["leaderboard"]}
    mine = rows["my-model"]
    # q1-q3: 2 games x 3 (strong wins) = 18 battles won; q5, q6: 2 games x 1 battle lost; q4 unparsable
    assert mine["battles"] == 18 + 4 and mine["unparsable"] == 2 and mine["games"] == 12
    assert mine["score"] == pytest.approx(100 * 18 / 22, abs=1e-6)
    assert mine["lower"] <= mine["score"] <= mine["upper"]
    assert mine["avg_tokens"] == int((7 * 3 + 6 * 3) / 6) == 6 and rows["base-model"]["avg_tokens"] == 3
    assert mine["verdicts"]["unparsable"] == 2
    assert rows["base-model"]["score"] == 50.0
    assert run.read_summary()["leaderboard"] == summary["leaderboard"]
    stored = run.config_record
    assert stored["status"] == "complete"
    assert stored["config"]["judge"]["model_args"] == {"api_key": "<redacted>", "base_url": "u1"}
    assert "sk-secret" not in (tmp_path / "run" / "config.json").read_text()


def test_interrupted_run_resumes_without_redoing_work(bench, tmp_path, monkeypatch, answers_in):
    failing = Runners(answers_in, judge_fails_after=5)
    monkeypatch.setattr(arena_run, "load_runner", failing)
    with pytest.raises(ConnectionError):
        run_arena(config(bench, tmp_path / "run", batch_size=2))
    run = RunDir.load(tmp_path / "run")
    assert run.config_record["status"] == "failed"
    done = len(list(run.samples("samples").records()))
    assert done == 4  # q1 and q2 (batches of two games); q3's batch failed as a whole

    again = Runners(answers_in)
    monkeypatch.setattr(arena_run, "load_runner", again)
    summary = run_arena(config(bench, tmp_path / "run", batch_size=3))  # batch size may change between sessions
    assert again.loaded == ["the-judge"]  # the answers were all there: the model is not even loaded
    ids = [r["id"] for r in RunDir.load(tmp_path / "run").samples("samples").records()]
    assert len(ids) == len(set(ids)) == 12
    assert again.judge_calls == 8 + 4  # only the 8 games not judged before, plus the retries of q4 and q5
    assert summary["games"] == 12


def test_finished_run_is_rescored_without_any_model(bench, tmp_path, monkeypatch, answers_in):
    monkeypatch.setattr(arena_run, "load_runner", Runners(answers_in))
    first = run_arena(config(bench, tmp_path / "run"))

    def no_runner(_):
        raise AssertionError("no model may be loaded to rescore")

    monkeypatch.setattr(arena_run, "load_runner", no_runner)
    styled = run_arena(config(bench, tmp_path / "run", style_control=True, rounds=5, seed=3))
    assert styled["style_control"] is True and set(styled["style_coefficients"]) == {
        "length",
        "headers",
        "lists",
        "bold",
    }
    assert styled["rounds"] == 5 and styled["seed"] == 3
    assert first["leaderboard"] != styled["leaderboard"]


def test_another_judge_in_the_same_run_directory_is_refused(bench, tmp_path, monkeypatch, answers_in):
    monkeypatch.setattr(arena_run, "load_runner", Runners(answers_in))
    run_arena(config(bench, tmp_path / "run"))
    other = config(bench, tmp_path / "run")
    other.judge.model = "another-judge"
    with pytest.raises(UserError, match="different config"):
        run_arena(other)


def test_inputs_are_checked_before_any_model_is_loaded(bench, tmp_path, monkeypatch):
    def no_runner(_):
        raise AssertionError("loaded a model for a run that cannot start")

    monkeypatch.setattr(arena_run, "load_runner", no_runner)
    cfg = config(bench, tmp_path / "a")
    cfg.judge.model = ""
    with pytest.raises(UserError, match="give the judge"):
        run_arena(cfg)
    with pytest.raises(UserError, match="give the questions"):
        run_arena(config(None, tmp_path / "b"))
    with pytest.raises(UserError, match="no answers for the baseline 'gpt-4-0314'"):
        run_arena(config(bench, tmp_path / "c", baseline="gpt-4-0314"))
    partial = write_jsonl(tmp_path / "partial.jsonl", [{"question_id": "q1", "answer": "only one"}])
    with pytest.raises(UserError, match="no answer to 5 of the 6 questions"):
        run_arena(config(bench, tmp_path / "d", baseline_answers=partial))
    with pytest.raises(UserError, match="both named"):
        run_arena(config(bench, tmp_path / "e", model_name="base-model"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "d").exists()


def test_several_runs_are_ranked_together(bench, tmp_path, monkeypatch, answers_in, capsys):
    monkeypatch.setattr(arena_run, "load_runner", Runners(answers_in))
    run_arena(config(bench, tmp_path / "one"))
    run_arena(config(bench, tmp_path / "two", model_name="my-model-v2"))
    summary = rescore([tmp_path / "one", tmp_path / "two"], style_control=False, rounds=10, seed=0)
    rows = {row["model"]: row for row in summary["leaderboard"]}
    assert set(rows) == {"my-model", "my-model-v2", "base-model"}
    assert rows["my-model"]["score"] == pytest.approx(rows["my-model-v2"]["score"])
    assert rows["my-model"]["rank"] == rows["my-model-v2"]["rank"] == 1  # identical results: overlapping CIs
    assert rows["base-model"]["rank"] == 3

    cli_score([tmp_path / "one", tmp_path / "two"], style_control=True, rounds=5, seed=1)
    out = capsys.readouterr().out
    assert "my-model-v2" in out and "style coefficients" in out

    with pytest.raises(UserError, match="judged in both"):
        rescore([tmp_path / "one", tmp_path / "one"], False, 5, 0)
    other = config(bench, tmp_path / "three", model_name="m3")
    other.judge.model = "other-judge"
    monkeypatch.setattr(arena_run, "load_runner", lambda c: MockRunner(responder=lambda p: "[[A=B]]"))
    run_arena(other)
    with pytest.raises(UserError, match="differs from .* in judge;"):
        rescore([tmp_path / "one", tmp_path / "three"], False, 5, 0)
    other_answers = write_jsonl(tmp_path / "other.jsonl", [{"question_id": k, "answer": "other"} for k in QUESTIONS])
    run_arena(config(bench, tmp_path / "four", model_name="m4", baseline_answers=other_answers))
    with pytest.raises(UserError, match="in baseline answers;"):
        rescore([tmp_path / "one", tmp_path / "four"], False, 5, 0)
    (tmp_path / "four" / "config.json").unlink()
    with pytest.raises(UserError, match="holds none"):
        rescore([bench.parent], False, 5, 0)
    (tmp_path / "three" / "config.json").unlink()
    together = rescore([tmp_path], False, 5, 0)  # a folder of runs
    assert [Path(p).name for p in together["runs"]] == ["one", "two"]


def test_real_questions_with_the_command_line(arena_data, tmp_path, capsys):
    """`jamba-eval run arena` on real Arena-Hard questions with mock runners; the baseline answers are found in
    Arena-Hard's layout next to the questions. A judge that always says B>A shows position bias cancelling out."""
    out = tmp_path / "run"
    args = [
        "run", "arena", "--runner", "mock", "--model", "A short answer.",
        "--judge-runner", "mock", "--judge", "Final verdict: [[B>A]]",
        "--questions", str(arena_data / "arena-hard-v0.1" / "question.jsonl"),
        "--limit", "4", "--rounds", "10", "--output-dir", str(out),
    ]  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 0
    printed = capsys.readouterr().out
    assert "gpt-4-0314" in printed and "A short answer." in printed
    summary = json.loads((out / "summary.json").read_text())
    mine = next(r for r in summary["leaderboard"] if r["model"] == "A short answer.")
    assert mine["score"] == pytest.approx(50.0) and mine["games"] == 8 and mine["unparsable"] == 0
    baseline = next(r for r in summary["leaderboard"] if r["model"] == "gpt-4-0314")
    assert baseline["avg_tokens"] > 100  # token_len from the published answers

    with pytest.raises(SystemExit) as info:
        main(["arena", "score", str(out), "--rounds", "5"])
    assert info.value.code == 0 and "A short answer." in capsys.readouterr().out

    with pytest.raises(SystemExit) as info:
        main([*args[:-2], "--output-dir", str(tmp_path / "x"), "--questions", str(tmp_path / "missing.jsonl")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jamba-eval: error:") and "does not exist" in err and len(err.splitlines()) == 1


def test_yaml_config_with_command_line_overrides(bench, tmp_path, monkeypatch, answers_in, capsys):
    from jamba_eval.tasks.arena import cli_main

    runners = Runners(answers_in)
    monkeypatch.setattr(arena_run, "load_runner", runners)
    yaml_path = tmp_path / "arena.yaml"
    yaml_path.write_text(
        f"model: {{runner: mock, model: my-model}}\n"
        f"questions: {bench}\n"
        "baseline: base-model\n"
        "judge: {runner: mock, model: the-judge}\n"
        "judge-max-tokens: 64\n"
        "rounds: 50\n"
    )
    overrides = {"rounds": 7, "output_dir": tmp_path / "run", "model": {"runner": None, "model": None}}
    summary = cli_main(config_path=yaml_path, overrides=overrides)
    assert summary["rounds"] == 7 and summary["model"] == "my-model" and summary["score"] is not None
    assert all(r.max_new_tokens == 64 for call in runners.judge.calls for r in call)
    assert "my-model" in capsys.readouterr().out
    yaml_path.write_text("judge: {runner: mock, modle: typo}\n")
    with pytest.raises(UserError, match="unknown key 'modle'"):
        cli_main(config_path=yaml_path, overrides={})
