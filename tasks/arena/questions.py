"""Arena-Hard questions and stored answers, read from JSONL (or parquet) in every format the benchmark has used.

Questions: current Arena-Hard format (`uid, category, cluster, prompt`; v0.1 since April 2025 and v2.0), the
v0.1-era format (`question_id, category, cluster, turns: [{content}]`), or any JSONL of prompts (`prompt`,
`question`, `instruction` or `text`, with an optional `uid` / `question_id` / `id`; a missing id becomes a hash of
the prompt, so it stays stable when lines are reordered).

Answers (e.g. the baseline's): Arena-Hard v0.1 (`question_id, model_id, choices[0].turns[0].{content, token_len}`),
v2.0 (`uid, model, messages[-1].content.answer, metadata.token_len`), or plain `{question_id|uid|id, answer}`
records (the `answers.jsonl` of a jamba-eval arena run qualifies).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jamba_eval.errors import UserError

log = logging.getLogger(__name__)

ID_KEYS = ("uid", "question_id", "id")
PROMPT_KEYS = ("prompt", "question", "instruction", "text")


@dataclasses.dataclass(frozen=True)
class Question:
    id: str
    prompt: str
    category: str | None = None
    cluster: str | None = None


@dataclasses.dataclass(frozen=True)
class StoredAnswer:
    question_id: str
    text: str
    token_len: int | None  # as counted by whoever wrote the file (Arena-Hard: tiktoken gpt-3.5-turbo / gpt-4o)


def _records(path: Path, what: str) -> Iterator[tuple[int, Any]]:
    if not path.is_file():
        raise UserError(f"{what} file {path} does not exist")
    if path.suffix == ".parquet":  # e.g. the Hugging Face dataset lmarena-ai/arena-hard-auto-v0.1
        yield from enumerate(_parquet_rows(path), start=1)
        return
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path} line {number} is not valid JSON: {exc.msg}") from None


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(f"reading {path} needs pyarrow (pip install pyarrow), or give the questions as JSONL") from None
    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise UserError(f"cannot read {path} as parquet: {exc}") from None


def _first(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((record[k] for k in keys if record.get(k) not in (None, "")), None)


def _question_from(record: Any, path: Path, number: int) -> Question:
    if isinstance(record, str):
        record = {"prompt": record}
    if not isinstance(record, dict):
        raise UserError(f"{path} line {number}: expected a JSON object or string, got {type(record).__name__}")
    prompt = _first(record, PROMPT_KEYS)
    if prompt is None and isinstance(record.get("turns"), list) and record["turns"]:
        if len(record["turns"]) > 1:
            raise UserError(f"{path} line {number}: multi-turn questions are not supported (Arena-Hard is single-turn)")
        turn = record["turns"][0]
        prompt = turn.get("content") if isinstance(turn, dict) else turn
    if not isinstance(prompt, str) or not prompt.strip():
        raise UserError(f"{path} line {number}: no prompt (expected one of {', '.join(PROMPT_KEYS)} or turns)")
    qid = _first(record, ID_KEYS)
    qid = str(qid) if qid is not None else hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:32]
    return Question(qid, prompt, record.get("category"), record.get("cluster"))


def load_questions(path: str | Path, limit: int | None = None) -> list[Question]:
    """Questions in file order (the first `limit` when given); duplicate ids are refused."""
    path = Path(path)
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, record in _records(path, "questions"):
        question = _question_from(record, path, number)
        if question.id in seen:
            raise UserError(f"{path} line {number}: question id {question.id!r} repeats line {seen[question.id]}")
        seen[question.id] = number
        questions.append(question)
    if not questions:
        raise UserError(f"{path} holds no questions")
    if limit is not None:
        if limit <= 0:
            raise UserError(f"--limit must be a positive number of questions, got {limit}")
        questions = questions[:limit]
    return questions


def _answer_from(record: Any, path: Path, number: int) -> tuple[str | None, StoredAnswer]:
    if not isinstance(record, dict):
        raise UserError(f"{path} line {number}: expected a JSON object, got {type(record).__name__}")
    qid = _first(record, ID_KEYS)
    if qid is None:
        raise UserError(f"{path} line {number}: no question id (expected one of {', '.join(ID_KEYS)})")
    model = _first(record, ("model", "model_id"))
    text, token_len = record.get("answer"), record.get("token_len", record.get("completion_tokens"))
    if text is None and record.get("choices"):  # Arena-Hard v0.1
        turn = record["choices"][0]["turns"][0]
        text, token_len = turn.get("content"), turn.get("token_len")
    elif text is None and record.get("messages"):  # Arena-Hard v2.0
        content = record["messages"][-1].get("content")
        text = content.get("answer") if isinstance(content, dict) else content
        token_len = (record.get("metadata") or {}).get("token_len")
    if not isinstance(text, str):
        raise UserError(f"{path} line {number}: no answer text (expected answer, choices or messages)")
    return (str(model) if model is not None else None), StoredAnswer(str(qid), text, token_len)


def load_answers(path: str | Path, model: str | None = None) -> dict[str, StoredAnswer]:
    """Answers by question id. A file holding several models' answers is narrowed to `model`."""
    path = Path(path)
    by_model: dict[str | None, dict[str, StoredAnswer]] = {}
    for number, record in _records(path, "answers"):
        name, answer = _answer_from(record, path, number)
        answers = by_model.setdefault(name, {})
        if answer.question_id in answers:
            raise UserError(f"{path} line {number}: a second answer to question {answer.question_id!r}")
        answers[answer.question_id] = answer
    if not by_model:
        raise UserError(f"{path} holds no answers")
    if len(by_model) == 1:
        return next(iter(by_model.values()))
    if model in by_model:
        return by_model[model]
    names = ", ".join(sorted(str(n) for n in by_model))
    raise UserError(f"{path} holds answers of several models ({names}) and none is named {model!r}")
