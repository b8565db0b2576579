"""Fixtures for the arena tests: the real Arena-Hard data (skipped with a reason when absent) and judge helpers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ARENA_DATA = Path("/work/shared/data/arena-hard")
_ANSWER = "<\\|The Start of Assistant {0}'s Answer\\|>\n(.*?)\n<\\|The End of Assistant {0}'s Answer\\|>"


@pytest.fixture
def arena_data() -> Path:
    """The shared Arena-Hard reference data (never copied into the repository)."""
    if not (ARENA_DATA / "arena-hard-v0.1" / "question.jsonl").is_file():
        pytest.skip(f"real Arena-Hard data not found at {ARENA_DATA}")
    return ARENA_DATA


def _answers_in(prompt: str) -> tuple[str, str]:
    a = re.search(_ANSWER.format("A"), prompt, re.S)
    b = re.search(_ANSWER.format("B"), prompt, re.S)
    assert a and b, "not a judge prompt"
    return a.group(1), b.group(1)


@pytest.fixture
def answers_in():
    """Function: rendered judge prompt -> (answer A, answer B), as the judge sees them."""
    return _answers_in
