"""What every RULER task generator shares: per-sample RNGs, the Sample record, and exact fitting.

A generator is built for one (task, tokenizer, template, length, seed). `sample(index)` is a pure function of those
and the index: its randomness comes from one RNG derived from (seed, task, length, index), drawn in a fixed order,
so a sample never depends on batching, chunking, resume or which other samples were made first.

A task implements three steps:
- `draw(index, rng)`: everything that does not depend on the haystack size (keys, values, depths, word orders...),
  ending with a seed for the size-dependent draws;
- `count(draw, units)`: the prompt's token count (input + answer prefix) with `units` haystack units, from
  pieces (see `fit`), cheap enough to call ~30 times per sample;
- `render(draw, units)`: the text itself.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
import logging
import random
from typing import Any

import numpy as np

from jamba_eval.ruler.fit import TokenCounter, UnreachableLength, largest_fitting
from jamba_eval.ruler.tasks import TaskSpec
from jamba_eval.ruler.templates import PromptTemplate
from jamba_eval.tokenizer import Tokenizer

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1  # bump when generated text changes, so cached sample plans are rebuilt
VERIFY_MODES = ("first", "all")


def sample_id(task: str, length: int, seed: int, index: int) -> str:
    """Stable id of one sample: the same (seed, task, length, index) always names the same prompt."""
    return f"{task}/{length}/{seed}/{index}"


def sample_seed(*parts: Any) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def shuffled(count: int, seed: int) -> list[int]:
    """A random order of range(count) (numpy: ~10x faster than random.shuffle on long lists)."""
    return np.random.default_rng(seed).permutation(count).tolist()


@dataclasses.dataclass
class Rendered:
    input: str  # the templated prompt without the answer prefix (RULER's `input`)
    answer_prefix: str
    outputs: list[str]
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Sample:
    """RULER's JSONL record (`index, input, outputs, length, answer_prefix`) plus our ids and counts."""

    task: str
    max_length: int  # the target length of the set (`length` in our configs)
    seed: int
    index: int
    input: str
    outputs: list[str]
    answer_prefix: str
    prompt_tokens: int  # tokens of input + answer prefix, no BOS (RULER's count)
    tokens_to_generate: int
    units: int  # haystack units used (words, lines, documents, list entries)
    verified: bool  # prompt_tokens came from tokenizing the whole prompt
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def id(self) -> str:
        return sample_id(self.task, self.max_length, self.seed, self.index)

    @property
    def prompt(self) -> str:
        return self.input + self.answer_prefix

    @property
    def length(self) -> int:
        """RULER's `length` field: prompt tokens + tokens_to_generate (<= max_length)."""
        return self.prompt_tokens + self.tokens_to_generate

    def sha256(self) -> str:
        """Hash of what the model sees and what it is scored against."""
        digest = hashlib.sha256(self.input.encode("utf-8"))
        digest.update(json.dumps([self.answer_prefix, self.outputs], ensure_ascii=False).encode("utf-8"))
        return digest.hexdigest()

    def ruler_record(self) -> dict[str, Any]:
        """The sample as RULER's data files hold it."""
        return {
            "index": self.index,
            "input": self.input,
            "outputs": self.outputs,
            "length": self.length,
            "answer_prefix": self.answer_prefix,
            **self.extra,
        }


class TaskGenerator(abc.ABC):
    """Base of the five generator kinds (niah, variable_tracking, common_words, freq_words, qa)."""

    min_units = 0

    def __init__(
        self,
        spec: TaskSpec,
        tokenizer: Tokenizer,
        template: PromptTemplate,
        length: int,
        seed: int,
        verify: str = "first",
    ):
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}, got {verify!r}")
        self.spec = spec
        self.tokenizer = tokenizer
        self.template = template
        self.length = length
        self.seed = seed
        self.verify = verify
        self.counter = TokenCounter(tokenizer)
        self.budget = length - spec.tokens_to_generate
        self._exact: bool | None = None  # None: additivity not checked yet; False: fit by full re-tokenization

    # ---- task-specific
    @abc.abstractmethod
    def draw(self, index: int, rng: random.Random, np_rng: np.random.Generator) -> Any:
        """Size-independent content of sample `index`."""

    @abc.abstractmethod
    def count(self, draw: Any, units: int) -> int:
        """Estimated tokens of input + answer prefix with `units` haystack units."""

    @abc.abstractmethod
    def render(self, draw: Any, units: int) -> Rendered:
        """The sample's text with `units` haystack units."""

    def minimum(self, draw: Any) -> int:
        """Fewest haystack units a sample can have."""
        return self.min_units

    def guess(self, draw: Any) -> int:
        """A starting point for the search (a good one saves evaluations)."""
        low = self.minimum(draw)
        probe = low + 64
        per_unit = max(1e-3, (self.count(draw, probe) - self.count(draw, low)) / 64)
        return low + max(0, int((self.budget - self.count(draw, low)) / per_unit))

    def describe(self) -> dict[str, Any]:
        """Everything besides spec/tokenizer/template/length/seed that the samples depend on (cache key)."""
        return {}

    # ---- shared
    def _draw(self, index: int) -> Any:
        seed = sample_seed(self.seed, self.spec.name, self.length, index)
        return self.draw(index, random.Random(seed), np.random.default_rng(seed))

    def real_tokens(self, draw: Any, units: int) -> int:
        rendered = self.render(draw, units)
        return self.tokenizer.count(rendered.input + rendered.answer_prefix)

    def sample(self, index: int, units: int | None = None, prompt_tokens: int | None = None) -> Sample:
        """Sample `index`; with `units` and `prompt_tokens` given (a cached plan) nothing is searched or counted."""
        if units is None and self._exact is None and index != 0:
            self.sample(0)  # the additivity check always runs on the same sample, so results never depend on order
        draw = self._draw(index)
        verified = False
        if units is None:
            units, tokens, verified = self._fit(index, draw)
        else:
            tokens = self.count(draw, units) if prompt_tokens is None else prompt_tokens
        rendered = self.render(draw, units)
        return Sample(
            task=self.spec.name,
            max_length=self.length,
            seed=self.seed,
            index=index,
            input=rendered.input,
            outputs=list(rendered.outputs),
            answer_prefix=rendered.answer_prefix,
            prompt_tokens=tokens,
            tokens_to_generate=self.spec.tokens_to_generate,
            units=units,
            verified=verified,
            extra=rendered.extra,
        )

    def _fit(self, index: int, draw: Any) -> tuple[int, int, bool]:
        what = f"{self.spec.name} at {self.length} tokens (sample {index})"
        try:
            units = largest_fitting(lambda n: self.count(draw, n), self.budget, self.guess(draw), self.minimum(draw))
        except UnreachableLength as exc:
            raise UnreachableLength(
                f"{what} cannot fit: it {exc} plus {self.spec.tokens_to_generate} to generate; use a longer length"
            ) from None
        estimate = self.count(draw, units)
        if self._exact and self.verify == "first":
            return units, estimate, False
        strict = self.verify == "all" or self._exact is False  # also prove that one more unit would not fit
        real = self.real_tokens(draw, units)
        exact = real == estimate and (not strict or self.real_tokens(draw, units + 1) > self.budget)
        if self._exact is None:
            self._exact = exact
            if not exact:
                log.warning(
                    "%s: tokenizer %r does not count additively at RULER's piece boundaries (%d estimated, %d "
                    "real); fitting every sample by full re-tokenization (slower)",
                    what,
                    getattr(self.tokenizer, "name", "?"),
                    estimate,
                    real,
                )
        if exact:
            return units, real, True
        units = largest_fitting(lambda n: self.real_tokens(draw, n), self.budget, units, self.minimum(draw))
        return units, self.real_tokens(draw, units), True
