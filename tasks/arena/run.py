"""`jamba-eval run arena` and `jamba-eval arena score`: answer, judge, score, store.

A run directory holds one model against one baseline and one judge:

    config.json     resolved config (API keys redacted) + content hashes of questions, baseline answers and prompt
    answers.jsonl   one answer per (model, question), the baseline's copied from its file; keyed "model/question"
    samples.jsonl   one judgment per (question, game), keyed "model/question/game", with the judge's raw replies
    summary.json    the leaderboard (model and baseline rows)

Every answer and judgment is flushed as it is made, so an interrupted run resumes where it stopped; a finished run
reopened with other scoring options (rounds, seed, style control) only rescores. Runs of several models against
the same baseline and judge are ranked together by `jamba-eval arena score RUN_DIR...`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from jamba_eval import progress, provenance
from jamba_eval.config import build_config, to_dict
from jamba_eval.errors import UserError
from jamba_eval.fingerprint import weights_fingerprint
from jamba_eval.results import RunDir, SampleLog, find_run_dirs
from jamba_eval.runners.base import GenerationRequest, load_runner
from jamba_eval.tasks.arena.config import VOLATILE_KEYS, ArenaConfig, redact
from jamba_eval.tasks.arena.judge import Pair, judge_pairs, load_judge_prompt
from jamba_eval.tasks.arena.leaderboard import answers_frame, build_leaderboard, judgments_frame, print_leaderboard
from jamba_eval.tasks.arena.questions import Question, StoredAnswer, load_answers, load_questions

log = logging.getLogger(__name__)

KIND = "arena"
ANSWERS = "answers"
JUDGMENTS = "samples"
T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def answer_id(model: str, question_id: str) -> str:
    return f"{model}/{question_id}"


def judgment_id(model: str, question_id: str, game: int) -> str:
    return f"{model}/{question_id}/{game}"


def baseline_answers_path(config: ArenaConfig) -> Path:
    """--baseline-answers, else Arena-Hard's layout next to the questions: model_answer/<baseline>.jsonl."""
    if config.baseline_answers is not None:
        return config.baseline_answers
    guess = Path(config.questions).parent / "model_answer" / f"{config.baseline}.jsonl"
    if guess.is_file():
        return guess
    raise UserError(
        f"no answers for the baseline {config.baseline!r}: give --baseline-answers FILE (looked in {guess})"
    )


@dataclasses.dataclass
class Inputs:
    questions: list[Question]
    baseline_answers: dict[str, StoredAnswer]
    judge_prompt: str
    stored_config: dict[str, Any]


def prepare(config: ArenaConfig) -> Inputs:
    """Read and check every input before any model is loaded."""
    config.check_complete()
    all_questions = load_questions(config.questions)
    questions = all_questions[: config.limit] if config.limit else all_questions
    answers_path = baseline_answers_path(config)
    baseline = load_answers(answers_path, model=config.baseline)
    missing = [q.id for q in questions if q.id not in baseline]
    if missing:
        raise UserError(
            f"{answers_path} has no answer to {len(missing)} of the {len(questions)} questions (e.g. {missing[0]}); "
            f"are these the answers to {config.questions}?"
        )
    prompt = load_judge_prompt(config.judge_prompt)
    stored = to_dict(config)
    stored["model"]["model_args"] = redact(stored["model"]["model_args"])
    stored["judge"]["model_args"] = redact(stored["judge"]["model_args"])
    stored["identity"] = {  # what the results depend on, independent of file paths and formats
        "model_name": config.name,
        "model_weights": weights_fingerprint(config.model),
        "questions_sha256": _digest([(q.id, q.prompt) for q in all_questions]),
        "baseline_answers_sha256": _digest(sorted((a.question_id, a.text) for a in baseline.values())),
        "judge_prompt_sha256": _digest(prompt),
    }
    return Inputs(questions, baseline, prompt, stored)


def run_arena(config: ArenaConfig) -> dict[str, Any]:
    """Answer, judge and score; returns the summary (also written to the run directory)."""
    inputs = prepare(config)
    seeds = {"bootstrap": config.seed}
    with RunDir.open(
        config.run_dir, KIND, inputs.stored_config, provenance.collect(seeds), volatile=VOLATILE_KEYS
    ) as run:
        if run.resumed:
            log.info("resuming %s", run.path)
        answers = run.samples(ANSWERS)
        judgments = run.samples(JUDGMENTS)
        _store_baseline_answers(config, inputs, answers)
        _generate_answers(config, inputs.questions, answers)
        _judge(config, inputs, answers, judgments)
        summary = score_run(run, config, {q.id for q in inputs.questions})
        run.write_summary(summary)
        run.set_status("complete")
    log.info("wrote %s", run.path / "summary.json")
    return summary


def _store_baseline_answers(config: ArenaConfig, inputs: Inputs, log_: SampleLog) -> None:
    for question in inputs.questions:
        key = answer_id(config.baseline, question.id)
        if key not in log_:
            answer = inputs.baseline_answers[question.id]
            log_.append(
                {
                    "id": key,
                    "model": config.baseline,
                    "question_id": question.id,
                    "answer": answer.text,
                    "tokens": answer.token_len,
                    "source": "baseline answers file",
                }
            )


def _generate_answers(config: ArenaConfig, questions: list[Question], log_: SampleLog) -> None:
    pending = [q for q in questions if answer_id(config.name, q.id) not in log_]
    if not pending:
        return
    log.info("answering %d questions with %s (%s runner)", len(pending), config.model.model, config.model.runner)
    with load_runner(config.model) as runner, progress.progress_bar(len(pending), "answers") as bar:
        for batch in _chunks(pending, config.batch_size):
            requests = [
                GenerationRequest(
                    prompt=[{"role": "user", "content": q.prompt}], max_new_tokens=config.max_tokens, temperature=0.0
                )
                for q in batch
            ]
            for question, completion in zip(batch, runner.generate(requests), strict=True):
                log_.append(
                    {
                        "id": answer_id(config.name, question.id),
                        "model": config.name,
                        "question_id": question.id,
                        "answer": completion.text,
                        "tokens": completion.completion_tokens,
                        "prompt_tokens": completion.prompt_tokens,
                        "finish_reason": completion.finish_reason,
                        "total_time_s": completion.total_time_s,
                        "source": runner.name,
                    }
                )
            bar.advance(len(batch))


def _judge(config: ArenaConfig, inputs: Inputs, answers_log: SampleLog, log_: SampleLog) -> None:
    pending = [
        (q, game) for q in inputs.questions for game in (1, 2) if judgment_id(config.name, q.id, game) not in log_
    ]
    if not pending:
        return
    answers = {(r["model"], r["question_id"]): r["answer"] for r in answers_log.records()}
    log.info("judging %d games with %s (%s runner)", len(pending), config.judge.model, config.judge.runner)
    with load_runner(config.judge) as judge, progress.progress_bar(len(pending), "judgments") as bar:
        for batch in _chunks(pending, config.batch_size):
            pairs = []
            for question, game in batch:
                base, mine = answers[(config.baseline, question.id)], answers[(config.name, question.id)]
                pairs.append(Pair(question.prompt, *((base, mine) if game == 1 else (mine, base))))
            results = judge_pairs(judge, pairs, inputs.judge_prompt, config.judge_max_tokens)
            for (question, game), result in zip(batch, results, strict=True):
                log_.append(
                    {
                        "id": judgment_id(config.name, question.id, game),
                        "model": config.name,
                        "baseline": config.baseline,
                        "question_id": question.id,
                        "game": game,
                        "verdict": result.verdict,
                        "status": result.status,
                        "judge": config.judge.model,
                        "replies": result.replies,
                        "prompt_tokens": result.prompt_tokens,
                        "completion_tokens": result.completion_tokens,
                    }
                )
            bar.advance(len(batch))


def _tables(run: RunDir, question_ids: set[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    judgments = judgments_frame(run.samples(JUDGMENTS).records())
    answers = answers_frame(run.samples(ANSWERS).records())
    if question_ids is not None:
        judgments = judgments[judgments["question_id"].isin(question_ids)]
        answers = answers[answers["question_id"].isin(question_ids)]
    return judgments, answers


def score_run(run: RunDir, config: ArenaConfig, question_ids: set[str]) -> dict[str, Any]:
    judgments, answers = _tables(run, question_ids)
    summary = build_leaderboard(
        judgments, answers, config.baseline, config.judge.model, config.rounds, config.seed, config.style_control
    )
    mine = next((row for row in summary["leaderboard"] if row["model"] == config.name), {})
    headline = {key: mine.get(key) for key in ("score", "lower", "upper", "avg_tokens", "unparsable")}
    log.info(
        "%s: %s%% against %s; %s of %d verdicts unparsable",
        config.name,
        "-" if headline["score"] is None else f"{headline['score']:.1f}",
        config.baseline,
        summary["unparsable"],
        summary["games"],
    )
    return {"model": config.name, "questions": len(question_ids), **headline, **summary}


def cli_main(config_path: Path | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """`jamba-eval run arena`."""
    config = build_config(ArenaConfig, config_path, overrides)
    summary = run_arena(config)
    print_leaderboard(summary)
    return summary


def _arena_runs(paths: Sequence[Path]) -> list[RunDir]:
    """Each path is an arena run directory, or a folder holding some (e.g. runs/arena)."""
    runs = []
    for path in paths:
        if (Path(path) / "config.json").exists():
            run = RunDir.load(path)
            if run.kind != KIND:
                raise UserError(f"{path} holds a {run.kind!r} run, not an arena run")
            runs.append(run)
            continue
        found = [run for run in map(RunDir.load, find_run_dirs([path])) if run.kind == KIND]
        if not found:
            raise UserError(f"{path} is not an arena run directory and holds none")
        runs.extend(found)
    return runs


def _setup(run: RunDir) -> dict[str, Any]:
    """What must agree for runs to be ranked together."""
    config = run.config
    identity = config.get("identity", {})
    return {
        "baseline": config.get("baseline"),
        "judge": config.get("judge", {}).get("model"),
        "baseline answers": identity.get("baseline_answers_sha256"),
        "judge prompt": identity.get("judge_prompt_sha256"),
    }


def rescore(paths: Sequence[Path], style_control: bool, rounds: int, seed: int) -> dict[str, Any]:
    """One leaderboard over the judgments stored in several arena runs (same baseline, judge and judge prompt)."""
    runs = _arena_runs(paths)
    if not runs:
        raise UserError("give at least one arena run directory")
    setup = _setup(runs[0])
    judgments, answers, origin = [], [], {}
    for run in runs:
        differ = [key for key, value in _setup(run).items() if value != setup[key]]
        if differ:
            raise UserError(
                f"{run.path} differs from {runs[0].path} in {', '.join(differ)}; only runs with the same judge, "
                "judge prompt, baseline and baseline answers can be ranked together"
            )
        run_judgments, run_answers = _tables(run)
        for model in run_judgments["model"].unique():
            if model in origin:
                raise UserError(f"model {model!r} is judged in both {origin[model]} and {run.path}")
            origin[model] = run.path
        judgments.append(run_judgments)
        answers.append(run_answers)
    all_answers = pd.concat(answers, ignore_index=True).drop_duplicates(["model", "question_id"])
    summary = build_leaderboard(
        pd.concat(judgments, ignore_index=True),
        all_answers,
        setup["baseline"],
        setup["judge"],
        rounds,
        seed,
        style_control,
    )
    return {"runs": [str(run.path) for run in runs], **summary}


def cli_score(run_dirs: list[Path], style_control: bool, rounds: int, seed: int) -> dict[str, Any]:
    """`jamba-eval arena score RUN_DIR...`: rescore stored judgments (no model is called, nothing is written)."""
    if rounds < 0:
        raise UserError(f"--rounds must be 0 or more, got {rounds}")
    summary = rescore(run_dirs, style_control, rounds, seed)
    print_leaderboard(summary)
    return summary
