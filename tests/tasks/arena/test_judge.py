"""Verdict parsing on realistic judge outputs, the judge prompt, and the one-retry protocol through a mock judge."""

from __future__ import annotations

import pytest

from jamba_eval.errors import UserError
from jamba_eval.runners.mock import MockRunner
from jamba_eval.tasks.arena.judge import (
    RETRY_MESSAGE,
    VERDICTS,
    Pair,
    judge_messages,
    judge_pairs,
    load_judge_prompt,
    parse_verdict,
)

LONG_JUDGMENT = """My own answer: the capital of France is Paris.

Assistant A says Paris, which is correct and concise. Assistant B says Lyon, which is wrong; it also adds an
irrelevant paragraph about cheese. Both answers are short, but only A is helpful.

My final verdict is: [[A>>B]]"""


@pytest.mark.parametrize(
    ("text", "verdict", "status"),
    [
        (LONG_JUDGMENT, "A>>B", "ok"),
        ("Verdict [[B>A]] because B explains more.\nThe rest of my notes follow here.", "B>A", "ok"),  # in the middle
        ("Final verdict: [[a=b]]", "A=B", "ok"),  # lower case
        ("Final verdict: [[ B >> A ]]", "B>>A", "ok"),  # extra spaces
        ("Final verdict: [[A<B]]", "B>A", "ok"),  # v2.0 spelling
        ("Tie at first sight [[A=B]], and after checking again: [[A=B]].", "A=B", "ok"),  # the same label twice
        ("I first thought [[A>B]] but on reflection [[B>A]].", "", "conflicting_verdicts"),  # two verdicts
        ("Both answers are fine. A is slightly better.", "", "no_verdict"),  # none
        ("Verdict: [A>B]", "", "no_verdict"),  # single brackets are not the published pattern
        ("[[A]] [[C>D]] [[]]", "", "no_verdict"),  # not one of the five labels
        ("", "", "no_verdict"),
        ("\x00\ufffd garbage ]]]][[[[ >>", "", "no_verdict"),
    ],
)
def test_parse_verdict(text, verdict, status):
    assert parse_verdict(text) == (verdict, status)


def test_prompt_follows_the_published_structure():
    system = load_judge_prompt(None)
    assert "your own answer" in system and all(f"[[{v}]]" in system for v in VERDICTS)
    messages = judge_messages(system, "What is 2+2?", "four", "4")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"] == (
        "<|User Prompt|>\nWhat is 2+2?\n\n"
        "<|The Start of Assistant A's Answer|>\nfour\n<|The End of Assistant A's Answer|>\n\n"
        "<|The Start of Assistant B's Answer|>\n4\n<|The End of Assistant B's Answer|>"
    )


def test_judge_prompt_file(tmp_path):
    path = tmp_path / "prompt.txt"
    path.write_text("Be strict. End with [[A>B]] or similar.\n")
    assert load_judge_prompt(path) == "Be strict. End with [[A>B]] or similar."
    with pytest.raises(UserError, match="cannot read"):
        load_judge_prompt(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(UserError, match="empty"):
        load_judge_prompt(tmp_path / "empty.txt")


def scripted_judge(first_replies: dict[str, str], retry_replies: dict[str, str]) -> MockRunner:
    """A judge whose reply depends on the question and on whether it is being asked to finish."""

    def respond(prompt: str) -> str:
        question = prompt.split("<|User Prompt|>\n", 1)[1].split("\n", 1)[0]
        return (retry_replies if RETRY_MESSAGE in prompt else first_replies)[question]

    return MockRunner(responder=respond)


def test_one_retry_for_a_missing_verdict_and_none_for_conflicting_ones():
    judge = scripted_judge(
        first_replies={
            "q-ok": "Reasoning... [[B>A]]",
            "q-late": "Reasoning that runs out before the end",
            "q-never": "I refuse to choose.",
            "q-two": "[[A>B]] or maybe [[B>>A]]",
        },
        retry_replies={"q-late": "...so, final verdict: [[A=B]]", "q-never": "Still no choice.", "q-two": "[[A=B]]"},
    )
    pairs = [Pair(q, "answer one", "answer two") for q in ("q-ok", "q-late", "q-never", "q-two")]
    results = judge_pairs(judge, pairs, "system prompt", max_new_tokens=200)
    assert [(r.verdict, r.status) for r in results] == [
        ("B>A", "ok"),
        ("A=B", "ok"),
        ("", "no_verdict"),
        ("", "conflicting_verdicts"),
    ]
    assert [len(r.replies) for r in results] == [1, 2, 2, 1]
    assert results[1].replies == ["Reasoning that runs out before the end", "...so, final verdict: [[A=B]]"]
    # two batched calls: everything, then only the two without a label, continuing their own conversations
    assert [len(call) for call in judge.calls] == [4, 2]
    retry = judge.calls[1][0].prompt
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"]
    assert retry[2]["content"] == "Reasoning that runs out before the end" and retry[3]["content"] == RETRY_MESSAGE
    assert all(r.temperature == 0.0 and r.max_new_tokens == 200 for call in judge.calls for r in call)
    assert results[1].prompt_tokens > results[0].prompt_tokens > 0  # token counts add up over both attempts


def test_a_verdict_in_the_first_reply_is_kept_when_the_retry_is_never_needed():
    judge = scripted_judge({"q": "[[A>>B]]"}, {})
    (result,) = judge_pairs(judge, [Pair("q", "x", "y")], "s", max_new_tokens=10)
    assert result.verdict == "A>>B" and len(judge.calls) == 1
