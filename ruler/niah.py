"""Needle-in-a-haystack (RULER `scripts/data/synthetic/niah.py`; reference/ruler.md §1.3).

Needles "One of the special magic {type} for {key} is: {value}." go into one of three haystacks:
- `noise`: the fixed noise sentence repeated, one per line; needles inserted at random lines (unit: a line);
- `essay`: the essay corpus; needles inserted between sentences at depths drawn without replacement from 40
  evenly spaced percentages (unit: a word; RULER searches in steps of 500 words);
- `needle`: distractor needles with random keys and values, one per line (unit: a distractor).

Differences from RULER, none of which changes what a sample asks:
- RULER shuffles needles with a fixed `Random(seed)`; here each sample's own RNG shuffles them.
- The `needle` haystack's distractors come from a pool of random needles (about twice what one sample needs),
  drawn once per (seed, task, length) and tokenized once; each sample takes a random subset in random order and
  never a distractor whose key it queries. RULER draws fresh distractors per sample, which would mean
  re-tokenizing ~128K tokens of random uuids for every 128K sample.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import numpy as np

from jamba_eval.ruler.fit import Span, TokenCounter, TokenizedText, count_pieces, render_pieces
from jamba_eval.ruler.generator import Rendered, TaskGenerator, sample_seed
from jamba_eval.ruler.haystack import NOISE_SENTENCE, Corpus
from jamba_eval.ruler.templates import Frame
from jamba_eval.ruler.words import NEEDLE, random_value

DEPTHS = [round(100 * i / 39) for i in range(40)]  # RULER: np.round(np.linspace(0, 100, 40)).astype(int)


def split_lead(head: str) -> tuple[str, str]:
    """(head without its trailing whitespace, that whitespace): the whitespace is counted with the context."""
    core = head.rstrip(" \n")
    return core, head[len(core) :]


def lead_tokens(counter: TokenCounter, lead: str, first_line: str) -> int:
    """Tokens that the whitespace before the first line adds beyond the newline every other line starts with."""
    return counter.marginal(lead + first_line) - counter.marginal("\n" + first_line)


def insert_lines(lines: list[str], needles: list[str], rng: random.Random) -> list[str]:
    """RULER's insertion: needles go before distinct random lines, the first needle at the largest index."""
    for where, needle in zip(sorted(rng.sample(range(len(lines)), len(needles)), reverse=True), needles, strict=True):
        lines.insert(where, needle)
    return lines


@dataclasses.dataclass
class NiahDraw:
    frame: Frame
    needles: list[str]
    answers: list[str]
    keys: list[str]
    depths: list[int]
    pool_cumsum: np.ndarray | None  # needle haystack: cumulative token counts along this sample's pool order
    pool_order: np.ndarray | None
    render_seed: int


class NiahGenerator(TaskGenerator):
    def __init__(self, *args: Any, corpus: Corpus | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        a = self.spec.args
        self.haystack = a["type_haystack"]
        self.type_k, self.type_v = a["type_needle_k"], a["type_needle_v"]
        self.num_q, self.num_v = a["num_needle_q"], a["num_needle_v"]
        self.num_k = max(a["num_needle_k"], self.num_q)  # RULER raises num_needle_k to num_needle_q
        self.singular = self.num_q * self.num_v == 1
        if self.haystack not in ("noise", "essay", "needle"):
            raise ValueError(f"unknown haystack {self.haystack!r}")
        self.min_units = 0 if self.haystack == "essay" else self.num_k * self.num_v
        self.corpus = corpus
        if self.haystack == "essay":
            if corpus is None:
                raise ValueError("the essay haystack needs a corpus")
            self.source = TokenizedText(self.tokenizer, self._corpus_text)
        self._pool: list[str] | None = None
        self._pool_keys: list[str] = []
        self._pool_counts: np.ndarray | None = None

    def describe(self) -> dict[str, Any]:
        return {"corpus": self.corpus.sha256} if self.haystack == "essay" else {}

    def _corpus_text(self, end: int) -> str:
        assert self.corpus is not None
        while len(self.corpus.text) < end:
            self.corpus.ensure_words(2 * len(self.corpus.word_ends))
        return self.corpus.text

    # ------------------------------------------------------------------ draw
    def draw(self, index: int, rng: random.Random, np_rng: np.random.Generator) -> NiahDraw:
        keys, values, needles = [], [], []
        for _ in range(self.num_k):
            keys.append(random_value(self.type_k, rng))
            values.append([random_value(self.type_v, rng) for _ in range(self.num_v)])
            needles += [NEEDLE.format(type_needle_v=self.type_v, key=keys[-1], value=v) for v in values[-1]]
        rng.shuffle(needles)
        chosen = rng.sample(range(self.num_k), self.num_q)
        queries = [keys[i] for i in chosen]
        answers = [v for i in chosen for v in values[i]]
        query = ", ".join(queries[:-1]) + ", and " + queries[-1] if len(queries) > 1 else queries[0]
        type_shown = self.type_v[:-1] if self.singular else self.type_v
        frame = self.template.frame("niah", {"type_needle_v": type_shown, "query": query}, singular=self.singular)
        depths = rng.sample(DEPTHS, len(needles)) if self.haystack == "essay" else []
        order = None
        if self.haystack == "needle":
            pool = self._needle_pool()
            taken = set(keys)
            order = np.asarray([i for i in np_rng.permutation(len(pool)) if self._pool_keys[i] not in taken])
        return NiahDraw(frame, needles, answers, keys, depths, None, order, rng.getrandbits(64))

    def _needle_pool(self) -> list[str]:
        """Random distractor needles for this (seed, task, length), about twice what a sample needs."""
        if self._pool is None:
            rng = random.Random(sample_seed(self.seed, self.spec.name, self.length, "pool"))
            pool, keys = [], []

            def extend(n: int) -> None:
                for _ in range(n):
                    keys.append(random_value(self.type_k, rng))
                    value = random_value(self.type_v, rng)
                    pool.append(NEEDLE.format(type_needle_v=self.type_v, key=keys[-1], value=value))

            extend(64)
            per_needle = max(1.0, float(np.mean(self.counter.marginals(["\n" + p for p in pool]))))
            extend(int(2 * self.budget / per_needle))
            self._pool, self._pool_keys = pool, keys
        return self._pool

    def _pool_cumsum(self, draw: NiahDraw) -> np.ndarray:
        """Cumulative tokens along this sample's pool order (the pool is tokenized once, on first use)."""
        if draw.pool_cumsum is None:
            if self._pool_counts is None:
                counts = self.counter.marginals(["\n" + p for p in self._needle_pool()])
                self._pool_counts = np.asarray(counts, dtype=np.int64)
            draw.pool_cumsum = np.concatenate([[0], np.cumsum(self._pool_counts[draw.pool_order])])
        return draw.pool_cumsum

    # ------------------------------------------------------------------ count / render
    def count(self, draw: NiahDraw, units: int) -> int:
        head, lead = split_lead(draw.frame.head)
        ending = draw.frame.tail + draw.frame.answer_prefix
        if self.haystack == "essay":
            return count_pieces(self.counter, [head, lead, *self._essay_pieces(draw, units), ending])
        lines = lead_tokens(self.counter, lead, draw.needles[0] if self.haystack == "needle" else NOISE_SENTENCE)
        lines += sum(self.counter.marginal("\n" + n) for n in draw.needles)
        if self.haystack == "noise":
            lines += units * self.counter.marginal("\n" + NOISE_SENTENCE)
        else:
            cumsum = self._pool_cumsum(draw)
            cycles, rest = divmod(units, len(draw.pool_order))
            lines += cycles * int(cumsum[-1]) + int(cumsum[rest])
        return self.counter.count(head) + lines + self.counter.marginal(ending)

    def render(self, draw: NiahDraw, units: int) -> Rendered:
        if self.haystack == "essay":
            context = render_pieces(self._essay_pieces(draw, units))
        else:
            if self.haystack == "noise":
                lines = [NOISE_SENTENCE] * units
            else:
                assert self._pool is not None and draw.pool_order is not None
                lines = [self._pool[draw.pool_order[i % len(draw.pool_order)]] for i in range(units)]
            context = "\n".join(insert_lines(lines, list(draw.needles), random.Random(draw.render_seed)))
        text = draw.frame.head + context + draw.frame.tail
        depth = text.find(draw.answers[0]) / max(1, len(text))
        return Rendered(text, draw.frame.answer_prefix, draw.answers, {"answer_depth": round(depth, 4)})

    def _essay_pieces(self, draw: NiahDraw, words: int) -> list[str | Span]:
        """The context `" ".join([sentences, needle, sentences, ...])` as RULER builds it, cut into pieces."""
        corpus = self.corpus
        assert corpus is not None
        cut = corpus.cut(words)
        sentences = corpus.sentence_count(cut)
        positions = sorted(int(sentences * depth / 100) for depth in draw.depths)
        bounds = [0, *positions, sentences]
        pieces: list[str | Span] = []
        for i in range(len(bounds) - 1):
            separator = " " if i else ""
            first, stop = bounds[i], bounds[i + 1]
            if first == stop:
                pieces.append(separator)
            else:
                start = corpus.sentence_start(first)
                end = min(cut, corpus.sentences[stop - 1][1])
                if not separator:
                    pieces.append(Span(self.source, start, end))
                elif start > 0:  # the corpus has the separating space just before the sentence
                    pieces.append(Span(self.source, start - 1, end))
                else:
                    word_end = min(end, corpus.word_ends[0])
                    pieces += [" " + corpus.text[:word_end], Span(self.source, word_end, end)]
            if i < len(draw.needles):
                pieces.append(" " + draw.needles[i])
        return pieces
