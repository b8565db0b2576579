"""Style features of an answer, the covariates of style control.

As in Arena-Hard v0.1 (`utils/add_markdown_info.py`, after the LMSYS "Does style matter?" blog, 2024-08-28):
markdown headers (h1-h6), list items (ordered and unordered) and bold spans (`**x**`, `__x__`), counted after
fenced code blocks are removed, plus the answer's length.

One deliberate difference: Arena-Hard measures length in tiktoken tokens; we count characters. Style control
compares two answers' lengths as `(a - b) / (a + b + 1)`, so only a measure that is the same for both answers
matters, and answers here come from different tokenizers (the baseline's file was counted with tiktoken, a local
model counts with its own). Characters are the same for everyone and need no download.
"""

from __future__ import annotations

import re

STYLE_FEATURES = ("length", "headers", "lists", "bold")

_CODE_BLOCK = re.compile(r"```[^`]*```")
_HEADER = re.compile(r"^#{1,6}\s", re.MULTILINE)
_ORDERED = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
_UNORDERED = re.compile(r"^\s*[-*+]\s", re.MULTILINE)
_BOLD_STARS = re.compile(r"\*\*[^*\n]+\*\*")
_BOLD_UNDERSCORES = re.compile(r"__[^_\n]+__")


def style_features(text: str) -> dict[str, int]:
    """{"length": characters, "headers", "lists", "bold": markdown counts outside code blocks}."""
    prose = _CODE_BLOCK.sub("", text)
    return {
        "length": len(text),
        "headers": len(_HEADER.findall(prose)),
        "lists": len(_ORDERED.findall(prose)) + len(_UNORDERED.findall(prose)),
        "bold": len(_BOLD_STARS.findall(prose)) + len(_BOLD_UNDERSCORES.findall(prose)),
    }
