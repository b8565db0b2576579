"""Frequent words extraction (RULER `scripts/data/synthetic/freq_words_extraction.py`; reference/ruler.md §1.4).

A vocabulary of (length - tokens_to_generate) // 50 random 6-letter "coded words"; with N words in total, the word
of rank k appears floor(N * k^-alpha / zeta(alpha)) times (alpha = 2), rank 1 is replaced by "..." as noise, and
the answer is ranks 2-4. The words are shuffled and space-separated. The unit is N (RULER steps it linearly by
max_len // 32; here the fit is exact). Difference from RULER: shuffles use each sample's RNG.
"""

from __future__ import annotations

import dataclasses
import random
import string
from typing import Any

import numpy as np

from jamba_eval.ruler.generator import Rendered, TaskGenerator, shuffled
from jamba_eval.ruler.niah import split_lead
from jamba_eval.ruler.templates import Frame

WORD_LENGTH = 6


@dataclasses.dataclass
class FweDraw:
    frame: Frame
    vocab: list[str]
    tokens: dict[int, int]  # rank index -> tokens of " " + word, filled as ranks get used
    render_seed: int


class FreqWordsGenerator(TaskGenerator):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        from scipy.special import zeta

        self.alpha = float(self.spec.args["alpha"])
        self.zeta = float(zeta(self.alpha))
        self.vocab_size = max(4, self.budget // 50)
        ranks = np.arange(1, self.vocab_size + 1)
        self.weights = ranks**-self.alpha  # RULER: num_words * (k ** -alpha) / zeta(alpha), truncated

    def draw(self, index: int, rng: random.Random, np_rng: np.random.Generator) -> FweDraw:
        vocab = ["".join(rng.choices(string.ascii_lowercase, k=WORD_LENGTH)) for _ in range(self.vocab_size)]
        while len(set(vocab)) < self.vocab_size:
            vocab.append("".join(rng.choices(string.ascii_lowercase, k=WORD_LENGTH)))
        vocab = sorted(set(vocab))
        rng.shuffle(vocab)
        vocab[0] = "..."  # the top-ranked word is noise
        frame = self.template.frame("freq_words_extraction", {"query": ""})
        return FweDraw(frame, vocab, {}, rng.getrandbits(64))

    def _counts(self, units: int) -> np.ndarray:
        return (units * self.weights / self.zeta).astype(int)

    def count(self, draw: FweDraw, units: int) -> int:
        head, lead = split_lead(draw.frame.head)
        counts = self._counts(units)
        used = np.nonzero(counts)[0]
        missing = [int(k) for k in used if int(k) not in draw.tokens]
        for k, tokens in zip(missing, self.counter.marginals([" " + draw.vocab[k] for k in missing]), strict=True):
            draw.tokens[k] = tokens
        words = sum(int(counts[k]) * draw.tokens[int(k)] for k in used)
        first = draw.vocab[0]  # the lead's whitespace beyond the joining space, measured on a typical word
        lead_extra = self.counter.marginal(lead + first) - self.counter.marginal(" " + first) if lead else 0
        ending = self.counter.marginal(draw.frame.tail + draw.frame.answer_prefix)
        return self.counter.count(head) + lead_extra + words + ending

    def guess(self, draw: FweDraw) -> int:
        per_word = max(1e-3, (self.count(draw, 4096) - self.count(draw, 0)) / 4096)
        return max(0, int((self.budget - self.count(draw, 0)) / per_word))

    def render(self, draw: FweDraw, units: int) -> Rendered:
        counts = self._counts(units)
        words = [draw.vocab[k] for k in np.nonzero(counts)[0] for _ in range(int(counts[k]))]
        words = [words[i] for i in shuffled(len(words), draw.render_seed)]
        text = draw.frame.head + " ".join(words) + draw.frame.tail
        return Rendered(text, draw.frame.answer_prefix, draw.vocab[1:4])
