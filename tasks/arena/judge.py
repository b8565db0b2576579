"""The pairwise judge: prompt, verdict parsing, and one retry, following Arena-Hard v0.1.

Protocol (arXiv 2406.11939; lmarena/arena-hard-auto `config/judge_config.yaml` and `gen_judgment.py`, v0.1):
the judge gets a system prompt (answer the question yourself first, compare, judge helpfulness / relevance /
concision, then creativity and missing information, end with one of five labels) and a user message holding the
question and both answers. Its verdict is the label in `[[...]]`. With no label, the judge is asked once more to
finish its judgment (the reply is appended to the conversation), and both replies are parsed together. Two
different labels make the verdict unparsable (no retry), as in v0.1.

Parsing is a little more forgiving than v0.1's `\\[\\[([AB<>=]+)\\]\\]`: case and spaces inside the brackets are
ignored, and `A<B`-style spellings (accepted by v2.0) are normalised. Labels outside the five (e.g. `[[A]]`) count
as no label. Unparsable verdicts are recorded as "" and never stop a run.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from jamba_eval.errors import UserError
from jamba_eval.runners.base import GenerationRequest, Runner

log = logging.getLogger(__name__)

VERDICTS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
_SPELLINGS = {"A<B": "B>A", "A<<B": "B>>A", "B<A": "A>B", "B<<A": "A>>B", "B=A": "A=B"}
_LABEL = re.compile(r"\[\[([AB<>=\s]+)\]\]", re.IGNORECASE)

USER_TEMPLATE = (
    "<|User Prompt|>\n{question}\n\n"
    "<|The Start of Assistant A's Answer|>\n{answer_a}\n<|The End of Assistant A's Answer|>\n\n"
    "<|The Start of Assistant B's Answer|>\n{answer_b}\n<|The End of Assistant B's Answer|>"
)
RETRY_MESSAGE = "Please continue your judgment and finish with your final verdict label, such as [[A=B]]."

Status = Literal["ok", "no_verdict", "conflicting_verdicts"]


def default_judge_prompt() -> str:
    return importlib.resources.files(__package__).joinpath("judge_prompt.txt").read_text(encoding="utf-8").strip()


def load_judge_prompt(path: str | Path | None) -> str:
    """The system prompt: our packaged one, or the text of `--judge-prompt FILE`."""
    if path is None:
        return default_judge_prompt()
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UserError(f"cannot read --judge-prompt {path}: {exc.strerror or exc}") from None
    if not text:
        raise UserError(f"--judge-prompt {path} is empty")
    return text


def normalise_label(raw: str) -> str | None:
    """'a > b' -> 'A>B'; anything that is not one of the five verdicts -> None."""
    label = re.sub(r"\s+", "", raw).upper()
    label = _SPELLINGS.get(label, label)
    return label if label in VERDICTS else None


def find_verdicts(text: str) -> list[str]:
    """Every valid verdict label in the text, in order."""
    labels = (normalise_label(m) for m in _LABEL.findall(text))
    return [label for label in labels if label is not None]


def parse_verdict(text: str) -> tuple[str, Status]:
    """(verdict, status): exactly one distinct label -> it; none -> ("", "no_verdict"); several -> unparsable."""
    distinct = set(find_verdicts(text))
    if len(distinct) == 1:
        return distinct.pop(), "ok"
    if not distinct:
        return "", "no_verdict"
    return "", "conflicting_verdicts"


def judge_messages(system_prompt: str, question: str, answer_a: str, answer_b: str) -> list[dict[str, str]]:
    user = USER_TEMPLATE.format(question=question, answer_a=answer_a, answer_b=answer_b)
    return [{"role": "system", "content": system_prompt}, {"role": "user", "content": user}]


@dataclasses.dataclass
class Pair:
    """One game: the question and the two answers in the positions the judge will see them."""

    question: str
    answer_a: str
    answer_b: str


@dataclasses.dataclass
class Judgment:
    verdict: str  # one of VERDICTS, or "" when unparsable
    status: Status
    replies: list[str]  # the judge's reply per attempt (two when it was asked to finish)
    prompt_tokens: int
    completion_tokens: int


def judge_pairs(
    runner: Runner, pairs: Sequence[Pair], system_prompt: str, max_new_tokens: int, max_attempts: int = 2
) -> list[Judgment]:
    """Judge every pair with one batched call, then one more batched call for replies without a label."""
    conversations = [judge_messages(system_prompt, p.question, p.answer_a, p.answer_b) for p in pairs]
    judgments = [Judgment("", "no_verdict", [], 0, 0) for _ in pairs]
    pending = list(range(len(pairs)))
    for attempt in range(max_attempts):
        if not pending:
            break
        requests = [
            GenerationRequest(prompt=conversations[i], max_new_tokens=max_new_tokens, temperature=0.0) for i in pending
        ]
        completions = runner.generate(requests)
        for i, completion in zip(pending, completions, strict=True):
            judgment = judgments[i]
            judgment.replies.append(completion.text)
            judgment.prompt_tokens += completion.prompt_tokens
            judgment.completion_tokens += completion.completion_tokens
            judgment.verdict, judgment.status = parse_verdict("\n".join(judgment.replies))
            conversations[i] = [
                *conversations[i],
                {"role": "assistant", "content": completion.text},
                {"role": "user", "content": RETRY_MESSAGE},
            ]
        pending = [i for i in pending if judgments[i].status == "no_verdict"]
        if pending and attempt + 1 < max_attempts:
            log.info("%d of %d judgments had no verdict label; asking the judge to finish", len(pending), len(requests))
    return judgments
