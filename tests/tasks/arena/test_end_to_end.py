"""End to end on CPU: the embedded jamba-tiny answers real Arena-Hard questions and, through the local torch runner,
also judges them. A tiny judge's verdicts are noise; what is checked is that the pipeline is real: answers with token
counts, two games per question, parsed or counted-unparsable verdicts, and a leaderboard row."""

from __future__ import annotations

import json

import pytest

from jamba_eval.config import ModelConfig
from jamba_eval.results import RunDir
from jamba_eval.tasks.arena import ArenaConfig, JudgeConfig, load_answers, load_questions, run_arena


def test_jamba_tiny_answers_and_judges_real_questions(arena_data, tmp_path):
    pytest.importorskip("jamba_eval.model.generate")
    pytest.importorskip("jamba_eval.runners.torch_runner")
    v01 = arena_data / "arena-hard-v0.1"
    baseline = load_answers(v01 / "model_answer" / "gpt-4-0314.jsonl")
    # the two questions with the shortest prompt + baseline answer keep the judge's prompt small
    questions = sorted(load_questions(v01 / "question.jsonl"), key=lambda q: len(q.prompt) + len(baseline[q.id].text))
    chosen = tmp_path / "question.jsonl"
    chosen.write_text("".join(json.dumps({"uid": q.id, "prompt": q.prompt}) + "\n" for q in questions[:2]))

    # a short judge prompt (also exercising --judge-prompt) keeps the tiny judge's prefill small on CPU
    prompt = tmp_path / "judge.txt"
    prompt.write_text("Compare the two answers. End with one label: [[A>>B]], [[A>B]], [[A=B]], [[B>A]] or [[B>>A]].")
    config = ArenaConfig(
        model=ModelConfig(runner="torch", model="jamba-tiny"),
        questions=chosen,
        baseline_answers=v01 / "model_answer" / "gpt-4-0314.jsonl",
        judge=JudgeConfig(runner="torch", model="jamba-tiny"),
        judge_prompt=prompt,
        max_tokens=12,
        judge_max_tokens=12,
        rounds=10,
        batch_size=2,
        output_dir=tmp_path / "run",
    )
    summary = run_arena(config)

    run = RunDir.load(tmp_path / "run")
    answers = [r for r in run.samples("answers").records() if r["model"] == "jamba-tiny"]
    assert len(answers) == 2 and all(
        0 <= r["tokens"] <= 12 and r["finish_reason"] in ("stop", "length") for r in answers
    )
    judgments = list(run.samples("samples").records())
    assert sorted((r["question_id"], r["game"]) for r in judgments) == sorted(
        (q.id, g) for q in questions[:2] for g in (1, 2)
    )
    # the judge saw the whole prompt (system prompt, question, both answers) and answered at most twice
    assert all(r["prompt_tokens"] > 300 and 1 <= len(r["replies"]) <= 2 for r in judgments)
    row = next(r for r in summary["leaderboard"] if r["model"] == "jamba-tiny")
    assert row["games"] == 4
    assert row["unparsable"] == sum(r["verdict"] == "" for r in judgments)
    assert summary["unparsable"] == row["unparsable"] and summary["judge"] == "jamba-tiny"
    assert run.config_record["status"] == "complete"
