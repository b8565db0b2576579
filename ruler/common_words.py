"""Common words extraction (RULER `scripts/data/synthetic/common_words_extraction.py`; reference/ruler.md §1.4).

A numbered list "1. w 2. w ..." where 10 common words appear 30 times each and every other word 3 times (6 and 1
below 4096 tokens); the answer is the 10 common words. A one-shot example (40 words, 10 and 3 repeats; 20 words,
3 and 1 below 4096) comes first, wrapped in the full model template and followed by its answer, exactly as RULER
builds it. The unit is a distinct word.

Vocabulary: wonderwords nouns + adjectives + verbs (8,166). When a sample needs more distinct words, RULER samples
all of them from `english_words.json` (not obtainable offline); we sample them from those 8,166 plus a fixed
sequence of adjective-noun compounds (`words.extended_words`). Differences from RULER: shuffles use each sample's
RNG (RULER reuses a fixed `Random(seed)` permutation for every sample of a length).
"""

from __future__ import annotations

import dataclasses
import logging
import random
from typing import Any

import numpy as np

from jamba_eval.ruler.generator import Rendered, TaskGenerator, shuffled
from jamba_eval.ruler.niah import split_lead
from jamba_eval.ruler.templates import Frame
from jamba_eval.ruler.words import common_words, extended_words

log = logging.getLogger(__name__)


def numbered(words: list[str]) -> str:
    return " ".join(f"{i + 1}. {w}" for i, w in enumerate(words))


@dataclasses.dataclass
class CweDraw:
    frame: Frame  # head includes the one-shot example
    orders: dict[int, np.ndarray]  # regime (1: wonderwords, 2: extended) -> this sample's word order
    cumsums: dict[int, np.ndarray]
    render_seed: int


class CommonWordsGenerator(TaskGenerator):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        a = self.spec.args
        self.num_cw = a["num_cw"]
        self.min_units = self.num_cw
        self.vocab = {1: list(common_words())}
        self._word_tokens: dict[int, np.ndarray] = {}
        self._number_tokens = np.zeros(1, dtype=np.int64)  # cumulative tokens of " 2.", " 3.", ...
        self._shape(self.length < 4096)
        if not self.short and self.count(self._draw(-1), self.num_cw) > 0.8 * self.budget:
            # RULER switches to this smaller variant below 4096 tokens, assuming ~4 characters per token; with a
            # tokenizer that spends far more tokens on text (e.g. one per byte) the standard variant cannot fit
            log.info(
                "%s: the standard list cannot fit %d tokens; using RULER's short variant", self.spec.name, self.length
            )
            self._shape(True)

    def _shape(self, short: bool) -> None:
        """RULER's list shape: (6, 1) repeats and a (20, 3, 1) example below 4096 tokens, else the task args."""
        a = self.spec.args
        self.short = short
        self.freq_cw, self.freq_ucw = (6, 1) if short else (a["freq_cw"], a["freq_ucw"])
        self.example = (20, 3, 1) if short else (40, 10, 3)
        most = self.budget // (2 * self.freq_ucw) + self.num_cw + 1  # every list entry takes >= 2 tokens
        self.vocab.pop(2, None)
        self._word_tokens.pop(2, None)
        if most > len(self.vocab[1]):
            self.vocab[2] = self.vocab[1] + extended_words(most - len(self.vocab[1]))

    def describe(self) -> dict[str, Any]:
        return {"short_variant": self.short}

    def draw(self, index: int, rng: random.Random, np_rng: np.random.Generator) -> CweDraw:
        size, ex_cw, ex_ucw = self.example
        ex_words = rng.sample(self.vocab[1], size)
        ex_common = ex_words[: self.num_cw]
        ex_list = ex_common * ex_cw + ex_words[self.num_cw :] * ex_ucw
        rng.shuffle(ex_list)
        fields = {"query": "", "num_cw": self.num_cw}
        example = self.template.frame("common_words_extraction", fields).prompt(numbered(ex_list))
        frame = self.template.frame("common_words_extraction", fields)
        head = example + " " + numbered(ex_common) + "\n" + frame.head
        orders = {regime: np_rng.permutation(len(words)) for regime, words in self.vocab.items()}
        return CweDraw(Frame(head, frame.tail, frame.answer_prefix), orders, {}, rng.getrandbits(64))

    def _regime(self, units: int) -> int:
        return 1 if units <= len(self.vocab[1]) or 2 not in self.vocab else 2

    def _cumsum(self, draw: CweDraw, regime: int) -> np.ndarray:
        if regime not in draw.cumsums:
            if regime not in self._word_tokens:
                counts = self.counter.marginals([" " + w for w in self.vocab[regime]])
                self._word_tokens[regime] = np.asarray(counts, dtype=np.int64)
            ordered = self._word_tokens[regime][draw.orders[regime]]
            draw.cumsums[regime] = np.concatenate([[0], np.cumsum(ordered)])
        return draw.cumsums[regime]

    def _numbers(self, entries: int, lead: str) -> int:
        """Tokens of the numbering "1." ... "N." (the first after the lead, the rest after a space)."""
        if entries <= 0:
            return 0
        have = len(self._number_tokens)  # covers " 2." .. " {have}."
        if entries > have:
            upto = max(entries, 2 * have)
            counts = self.counter.marginals([f" {i}." for i in range(have + 1, upto + 1)])
            tail = self._number_tokens[-1] + np.cumsum(np.asarray(counts, dtype=np.int64))
            self._number_tokens = np.concatenate([self._number_tokens, tail])
        return self.counter.marginal(lead + "1.") + int(self._number_tokens[entries - 1])

    def count(self, draw: CweDraw, units: int) -> int:
        head, lead = split_lead(draw.frame.head)
        cumsum = self._cumsum(draw, self._regime(units))
        common = min(units, self.num_cw)
        words = self.freq_cw * int(cumsum[common]) + self.freq_ucw * int(cumsum[units] - cumsum[common])
        entries = self.freq_cw * common + self.freq_ucw * (units - common)
        ending = self.counter.marginal(draw.frame.tail + draw.frame.answer_prefix)
        return self.counter.count(head) + self._numbers(entries, lead) + words + ending

    def render(self, draw: CweDraw, units: int) -> Rendered:
        regime = self._regime(units)
        chosen = [self.vocab[regime][i] for i in draw.orders[regime][:units]]
        common = chosen[: self.num_cw]
        items = common * self.freq_cw + chosen[self.num_cw :] * self.freq_ucw
        items = [items[i] for i in shuffled(len(items), draw.render_seed)]
        return Rendered(draw.frame.head + numbered(items) + draw.frame.tail, draw.frame.answer_prefix, common)
