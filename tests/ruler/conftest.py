"""RULER test fixtures: tiny SQuAD / HotpotQA files written here, a solver that answers RULER prompts correctly by
reading them (an oracle for the mock runner), and an isolated sample cache."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from jamba_eval.testing import training_text


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JAMBA_EVAL_CACHE", str(tmp_path / "cache"))


def _paragraphs(count: int) -> list[str]:
    found = []
    for text in training_text(600_000):
        for paragraph in text.split("\n\n"):
            paragraph = " ".join(paragraph.split())
            if 250 < len(paragraph) < 900 and not re.search(r"\d{5,}", paragraph):
                found.append(paragraph)
                if len(found) == count:
                    return found
    raise AssertionError("not enough paragraphs for the QA fixture")


def write_qa_files(folder: Path) -> dict[str, str]:
    """Small but real-format SQuAD v2 dev and HotpotQA dev-distractor files; returns question -> answer."""
    paragraphs = _paragraphs(320)
    answers: dict[str, str] = {}
    articles = []
    for a in range(12):
        entries = []
        for j, text in enumerate(paragraphs[a * 10 : (a + 1) * 10]):
            word = text.split()[5].strip(".,;:")
            question = f"Which word comes sixth in paragraph {a}.{j}?"
            answers[question] = word
            qas = [
                {"id": f"{a}-{j}", "question": question, "answers": [{"text": word, "answer_start": 0}] * 2},
                {"id": f"{a}-{j}-x", "question": "Unanswerable?", "answers": [], "is_impossible": True},
            ]
            entries.append({"context": text, "qas": qas})
        articles.append({"title": f"Article {a}", "paragraphs": entries})
    (folder / "dev-v2.0.json").write_text(json.dumps({"version": "v2.0", "data": articles}), encoding="utf-8")
    records = []
    for i in range(20):
        own = paragraphs[120 + 10 * i : 130 + 10 * i]
        context = [[f"Title {i}-{k}", [s + ". " for s in p.split(". ")]] for k, p in enumerate(own)]
        word = own[0].split()[3].strip(".,;:")
        question = f"What is the fourth word of Title {i}-0?"
        answers[question] = word
        records.append(
            {
                "_id": str(i),
                "question": question,
                "answer": word,
                "context": context,
                "supporting_facts": [[f"Title {i}-0", 0]],
                "type": "bridge",
                "level": "easy",
            }
        )
    (folder / "hotpot_dev_distractor_v1.json").write_text(json.dumps(records), encoding="utf-8")
    return answers


@pytest.fixture(scope="session")
def qa_files(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("qa")
    return folder, write_qa_files(folder)


def solve(prompt: str, qa_answers: dict[str, str] | None = None) -> list[str]:
    """The correct answer list for a RULER prompt, found by reading the prompt (tests only)."""
    last_line = prompt[prompt.rfind("\n") + 1 :]
    niah = re.search(r".*for (.+?) mentioned in the provided text (?:is|are)$", last_line)
    if niah:
        keys = re.split(r", and |, ", niah.group(1))
        return [v for k in keys for v in re.findall(rf"special magic \w+ for {re.escape(k)} is: (\S+)\.", prompt)]
    vt = re.search(r"assigned the value (\d+), they are: $", last_line)
    if vt:
        main = prompt[prompt.rfind("Memorize and track") :]
        names = [re.search(rf"VAR (\w+) = {vt.group(1)}\b", main).group(1)]
        while next_ := re.search(rf"VAR (\w+) = VAR {names[-1]}\b", main):
            names.append(next_.group(1))
        return names
    if prompt.endswith("appear most often in the list are:"):
        body = prompt[prompt.rfind("Memorize the ones that appear most often.\n") :].split("\n")[1]
        words = re.findall(r"\d+\. (.+?)(?= \d+\. |$)", body)
        return [w for w, _ in Counter(words).most_common(10)]
    if prompt.endswith("the three most frequently appeared words are:"):
        body = prompt[prompt.rfind("coded words. ") + len("coded words. ") : prompt.rfind("\nQuestion:")]
        counts = Counter(w for w in body.split(" ") if w != "...")
        return [w for w, _ in counts.most_common(3)]
    qa = re.search(r"Question: (.*) Answer:$", last_line)
    if qa and qa_answers is not None:
        return [qa_answers[qa.group(1)]]
    raise AssertionError(f"cannot solve prompt ending {prompt[-120:]!r}")


@pytest.fixture
def oracle(qa_files):
    """A mock-runner responder that answers every RULER prompt correctly."""
    answers = qa_files[1]
    return lambda prompt: " " + " ".join(solve(prompt, answers))
