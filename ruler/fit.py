"""Exact fitting without re-tokenizing the whole prompt per try.

RULER's rule (reference/ruler.md §1.6): `length` counts the prompt tokens (model template and answer prefix
included, no BOS) plus the task's `tokens_to_generate`; the haystack is the largest that keeps the total <= length.
RULER finds it by re-tokenizing whole prompts (a binary search, then at least once more per sample), which is the
main cost of preparing 128K-256K data.

Here a prompt is a list of pieces: short strings (needles, template parts, list entries) and `Span`s of a long text
tokenized once (`TokenizedText`, counted by character offsets). A piece's token count is its count *in context*: a
string is counted after a one-character sentinel (`"x"` before a piece that starts with whitespace, else a newline),
minus the sentinel, which absorbs the "start of text" effects of tokenizers that prepend a word marker. Pieces are cut
just before whitespace, where byte-level BPEs (GPT-2/Llama-3 style) and SentencePiece models both start a new
token, so the sum over pieces equals the count of the joined prompt. Each task's generator checks that claim on one
sample per (task, length) by tokenizing the final prompt; where it fails (a tokenizer that merges across those
boundaries) the generator falls back to fitting every sample by full re-tokenization (`largest_fitting` on the real
count). Either way the result is exact: the final prompt fits and one more haystack unit would not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from jamba_eval.errors import UserError
from jamba_eval.tokenizer import Tokenizer

_CHUNK_CHARS = 1 << 16


class UnreachableLength(UserError):
    """Even the smallest haystack does not fit the requested length."""


class TokenCounter:
    """Memoised token counts of short strings, standalone and in context (see module docstring)."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self._standalone: dict[str, int] = {}
        self._marginal: dict[str, int] = {}

    def count(self, text: str) -> int:
        """Tokens of `text` on its own (no special tokens), as RULER counts."""
        value = self._standalone.get(text)
        if value is None:
            value = self._standalone[text] = self.tokenizer.count(text)
        return value

    @staticmethod
    def sentinel(text: str) -> str:
        return "x" if text[:1].isspace() else "\n"

    def marginal(self, text: str) -> int:
        """Tokens `text` adds when it follows other text."""
        value = self._marginal.get(text)
        if value is None:
            if not text:
                return 0
            sentinel = self.sentinel(text)
            value = self._marginal[text] = self.count(sentinel + text) - self.count(sentinel)
        return value

    def marginals(self, texts: Sequence[str]) -> list[int]:
        """`marginal` for many strings, tokenized in one batch when the tokenizer supports it."""
        missing = list(dict.fromkeys(t for t in texts if t and t not in self._marginal))
        encode_batch = getattr(self.tokenizer, "encode_batch", None)
        if missing and encode_batch is not None and len(missing) > 16:
            sentinels = [self.sentinel(t) for t in missing]
            encoded = encode_batch([s + t for s, t in zip(sentinels, missing, strict=True)])
            for text, sentinel, ids in zip(missing, sentinels, encoded, strict=True):
                self._marginal[text] = len(ids) - self.count(sentinel)
        return [self.marginal(t) for t in texts]


class TokenizedText:
    """A long text tokenized once, in chunks cut before spaces, and counted by character offsets.

    `text_at(end)` must return a prefix of one fixed text that is at least `end` characters long (the text may be
    materialised lazily, e.g. a repeated corpus).
    """

    def __init__(self, tokenizer: Tokenizer, text_at: Callable[[int], str]):
        self.tokenizer = tokenizer
        self._text_at = text_at
        self._starts: list[np.ndarray] = []
        self._ends: list[np.ndarray] = []
        self._done = 0  # characters tokenized so far
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def _extend(self, end: int) -> None:
        while self._done < end:
            text = self._text_at(max(end, self._done + _CHUNK_CHARS) + 1)
            stop = min(len(text), max(end, self._done + _CHUNK_CHARS))
            if stop < len(text):  # cut before a space so the next chunk starts a new token
                space = text.find(" ", stop)
                stop = len(text) if space < 0 else space
            chunk = text[self._done : stop]
            sentinel = "\n" if self._done == 0 else "x"
            ids, offsets = self.tokenizer.encode_with_offsets(sentinel + chunk)
            spans = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
            keep = spans[:, 1] > len(sentinel)
            spans = np.maximum(spans[keep] - len(sentinel), 0) + self._done
            self._starts.append(spans[:, 0])
            self._ends.append(spans[:, 1])
            self._done = stop
            self._cache = None
            if stop >= len(text) and stop < end:
                raise ValueError(f"text ends at {stop} characters, {end} requested")

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is None:
            starts = np.concatenate(self._starts) if self._starts else np.zeros(0, dtype=np.int64)
            ends = np.concatenate(self._ends) if self._ends else np.zeros(0, dtype=np.int64)
            self._cache = (starts, ends)
        return self._cache

    def count(self, start: int, end: int) -> int:
        """Tokens lying wholly inside characters [start, end)."""
        if end <= start:
            return 0
        self._extend(end + 64)  # a little beyond, so the token at the end is final
        starts, ends = self._arrays()
        first = int(np.searchsorted(starts, start, side="left"))
        last = int(np.searchsorted(ends, end, side="right"))
        return max(0, last - first)

    def text(self, start: int, end: int) -> str:
        return self._text_at(end)[start:end]


@dataclasses.dataclass(frozen=True)
class Span:
    """Characters [start, end) of a `TokenizedText`."""

    source: TokenizedText
    start: int
    end: int


Piece = str | Span


def merge_pieces(pieces: Iterable[Piece]) -> list[Piece]:
    """Join adjacent strings and drop empty pieces."""
    merged: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, str):
            if not piece:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] += piece
                continue
        elif piece.end <= piece.start:
            continue
        merged.append(piece)
    return merged


def count_pieces(counter: TokenCounter, pieces: Iterable[Piece]) -> int:
    """Estimated tokens of the joined pieces: the first string standalone (it starts the prompt), the rest in
    context, spans by offsets."""
    total = 0
    for i, piece in enumerate(merge_pieces(pieces)):
        if isinstance(piece, Span):
            total += piece.source.count(piece.start, piece.end)
        else:
            total += counter.count(piece) if i == 0 else counter.marginal(piece)
    return total


def render_pieces(pieces: Iterable[Piece]) -> str:
    return "".join(p if isinstance(p, str) else p.source.text(p.start, p.end) for p in pieces)


def largest_fitting(tokens: Callable[[int], int], budget: int, start: int, minimum: int = 0) -> int:
    """Largest n >= minimum with tokens(n) <= budget and tokens(n + 1) > budget, searched from `start`.

    Gallops from `start` (steps 1, 2, 4, ...) to bracket the boundary, then bisects, so a good `start` costs
    O(log error) evaluations. `tokens` should be non-decreasing; if it is not, the answer still satisfies both
    inequalities. Raises UnreachableLength when tokens(minimum) > budget.
    """
    if tokens(minimum) > budget:
        raise UnreachableLength(f"needs {tokens(minimum)} prompt tokens with the smallest haystack")
    low = max(minimum, start)
    if tokens(low) > budget:  # walk down to a fitting n
        high, step = low, 1
        while True:
            low = max(minimum, high - step)
            if tokens(low) <= budget:
                break
            high, step = low, step * 2
    else:  # walk up to a failing n
        step = 1
        for _ in range(128):
            high = low + step
            if tokens(high) > budget:
                break
            low, step = high, step * 2
        else:
            raise RuntimeError("token count stopped growing with the haystack; cannot fit")
    while high - low > 1:
        mid = (low + high) // 2
        if tokens(mid) <= budget:
            low = mid
        else:
            high = mid
    return low
