"""Questions and answers in every Arena-Hard format, checked on the real data, plus custom sets and bad files."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from jamba_eval.errors import UserError
from jamba_eval.tasks.arena import load_answers, load_questions, style_features


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_real_v01_questions_in_both_formats_agree(arena_data):
    current = load_questions(arena_data / "arena-hard-v0.1" / "question.jsonl")
    legacy = load_questions(arena_data / "arena-hard-v0.1" / "question_legacy_format.jsonl")
    assert len(current) == len(legacy) == 500
    assert [(q.id, q.prompt) for q in current] == [(q.id, q.prompt) for q in legacy]
    clusters = Counter(q.cluster for q in current)
    assert len(clusters) == 250 and set(clusters.values()) == {2}
    assert load_questions(arena_data / "arena-hard-v0.1" / "question.jsonl", limit=3) == current[:3]


def test_real_v20_questions(arena_data):
    questions = load_questions(arena_data / "arena-hard-v2.0" / "question.jsonl")
    assert len(questions) == 750
    assert Counter(q.category for q in questions) == {"hard_prompt": 500, "creative_writing": 250}


def test_real_answers_reproduce_the_published_average_tokens(arena_data):
    """Arena-Hard's "average #tokens" is the mean token_len of the answers, truncated: 423 / 354 / 329."""
    board = {}
    with open(arena_data / "leaderboard" / "arena_hard_leaderboard_20240731.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            board[row["model"]] = float(row["avg_tokens"])
    questions = {q.id for q in load_questions(arena_data / "arena-hard-v0.1" / "question.jsonl")}
    for model, published in (("gpt-4-0314", 423), ("gpt-4-0613", 354), ("gpt-3.5-turbo-0125", 329)):
        answers = load_answers(arena_data / "arena-hard-v0.1" / "model_answer" / f"{model}.jsonl", model=model)
        assert set(answers) == questions
        average = int(sum(a.token_len for a in answers.values()) / len(answers))
        assert average == published == board[model]


def test_style_features_of_a_real_answer(arena_data):
    answers = load_answers(arena_data / "arena-hard-v0.1" / "model_answer" / "gpt-4-0314.jsonl")
    features = [style_features(a.text) for a in answers.values()]
    assert sum(f["lists"] for f in features) > 1000  # GPT-4 answers are list-heavy
    assert all(f["length"] > 0 for f in features)


def test_custom_prompt_sets(tmp_path):
    path = write_jsonl(
        tmp_path / "mine.jsonl",
        [{"id": 7, "question": "Why is the sky blue?"}, {"prompt": "Write a haiku."}, "Plain string prompt"],
    )
    questions = load_questions(path)
    assert [q.prompt for q in questions] == ["Why is the sky blue?", "Write a haiku.", "Plain string prompt"]
    assert questions[0].id == "7"
    again = load_questions(write_jsonl(tmp_path / "reordered.jsonl", [{"prompt": "x"}, {"prompt": "Write a haiku."}]))
    assert again[1].id == questions[1].id  # an id made from the prompt survives reordering


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"prompt": "a"}\n{not json\n', "line 2 is not valid JSON"),
        ('{"uid": "1", "prompt": "a"}\n{"uid": "1", "prompt": "b"}\n', "repeats line 1"),
        ('{"uid": "1"}\n', "no prompt"),
        ('{"question_id": "1", "turns": [{"content": "a"}, {"content": "b"}]}\n', "multi-turn"),
        ("\n", "holds no questions"),
    ],
)
def test_bad_question_files(tmp_path, content, message):
    path = tmp_path / "q.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        load_questions(path)


def test_missing_question_file_and_bad_limit(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_questions(tmp_path / "nope.jsonl")
    path = write_jsonl(tmp_path / "q.jsonl", [{"prompt": "a"}])
    with pytest.raises(UserError, match="positive"):
        load_questions(path, limit=0)


def test_answer_formats(tmp_path):
    v01 = {
        "question_id": "q1",
        "model_id": "m",
        "choices": [{"index": 0, "turns": [{"content": "hi", "token_len": 1}]}],
    }
    v20 = {
        "uid": "q2",
        "model": "m",
        "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": {"answer": "yo"}}],
        "metadata": {"token_len": 2},
    }
    plain = {"question_id": "q3", "answer": "hey"}
    answers = load_answers(write_jsonl(tmp_path / "a.jsonl", [v01, v20, {**plain, "model": "m"}]))
    assert {k: (a.text, a.token_len) for k, a in answers.items()} == {
        "q1": ("hi", 1),
        "q2": ("yo", 2),
        "q3": ("hey", None),
    }
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [{**plain, "model": "x"}, {**plain, "model": "y", "answer": "Y"}])
    assert load_answers(mixed, model="y")["q3"].text == "Y"
    with pytest.raises(UserError, match="several models"):
        load_answers(mixed, model="z")
    with pytest.raises(UserError, match="second answer"):
        load_answers(write_jsonl(tmp_path / "twice.jsonl", [plain, plain]))
    with pytest.raises(UserError, match="no answer text"):
        load_answers(write_jsonl(tmp_path / "empty.jsonl", [{"question_id": "q"}]))


def test_style_features_count_markdown_outside_code():
    text = (
        "# Title\n## Part\nSome **bold** and __also bold__ text.\n"
        "1. first\n2. second\n- bullet\n  * nested\n"
        "```python\n# not a header\n- not a list\n**not bold**\n```\n"
        "####### seven hashes is not a header\n"
    )
    assert style_features(text) == {"length": len(text), "headers": 2, "lists": 4, "bold": 2}


def test_parquet_questions_as_on_the_hugging_face_hub(arena_data, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    legacy = arena_data / "arena-hard-v0.1" / "question_legacy_format.jsonl"
    records = [json.loads(line) for line in legacy.read_text(encoding="utf-8").splitlines()[:5]]
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "train.parquet")
    assert load_questions(tmp_path / "train.parquet") == load_questions(legacy, limit=5)
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(UserError, match="cannot read"):
        load_questions(tmp_path / "bad.parquet")
