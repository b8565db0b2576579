"""Sample sets: one per (task, length), generated once and cached on disk.

The cache stores each set's *plan*: for every sample index, the haystack size the fit found, the prompt's token
count and a SHA-256 of the sample (input, answer prefix, references). Text is rebuilt from the plan by the pure
generator, which skips the search and the tokenizer, and every rebuilt sample is checked against its hash. Full
prompts are not stored: 500 samples x 13 tasks at 256K would be ~6 GB per length. The key covers everything the
samples depend on: generator version, Python version (its `random` module draws the samples), task spec,
tokenizer fingerprint, template, length, seed, fitting mode, and the corpus / QA data hashes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from jamba_eval.results import read_json, write_json_atomic
from jamba_eval.ruler.generator import GENERATOR_VERSION, Sample, TaskGenerator
from jamba_eval.ruler.haystack import Corpus
from jamba_eval.ruler.qa_data import QaData
from jamba_eval.ruler.tasks import TaskSpec
from jamba_eval.ruler.templates import PromptTemplate
from jamba_eval.tokenizer import Tokenizer

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    root = os.environ.get("JAMBA_EVAL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "jamba-eval"
    )
    return Path(root) / "ruler"


def make_generator(
    spec: TaskSpec,
    tokenizer: Tokenizer,
    template: PromptTemplate,
    length: int,
    seed: int,
    *,
    verify: str = "first",
    corpus: Corpus | None = None,
    qa: QaData | None = None,
) -> TaskGenerator:
    """The generator for one task at one length."""
    from jamba_eval.ruler.common_words import CommonWordsGenerator
    from jamba_eval.ruler.freq_words import FreqWordsGenerator
    from jamba_eval.ruler.niah import NiahGenerator
    from jamba_eval.ruler.qa import QaGenerator
    from jamba_eval.ruler.variable_tracking import VariableTrackingGenerator

    args = (spec, tokenizer, template, length, seed)
    if spec.kind == "niah":
        return NiahGenerator(*args, verify=verify, corpus=corpus)
    if spec.kind == "variable_tracking":
        return VariableTrackingGenerator(*args, verify=verify)
    if spec.kind == "common_words_extraction":
        return CommonWordsGenerator(*args, verify=verify)
    if spec.kind == "freq_words_extraction":
        return FreqWordsGenerator(*args, verify=verify)
    if spec.kind == "qa":
        if qa is None:
            raise ValueError(f"{spec.name} needs QA data")
        return QaGenerator(*args, verify=verify, data=qa)
    raise ValueError(f"unknown task kind {spec.kind!r}")


@dataclasses.dataclass(frozen=True)
class SamplePlan:
    index: int
    units: int
    prompt_tokens: int
    sha256: str


class SampleSet:
    """The first `count` samples of one generator, planned (or read from the cache) up front, built on demand."""

    def __init__(self, generator: TaskGenerator, count: int, cache_dir: Path | None):
        self.generator = generator
        self.count = count
        self.key_fields = {
            "generator_version": GENERATOR_VERSION,
            "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
            "task": generator.spec.describe(),
            "tokenizer": generator.tokenizer.fingerprint(),
            "template": generator.template.name,
            "length": generator.length,
            "seed": generator.seed,
            "verify": generator.verify,
            **generator.describe(),
        }
        self.key = hashlib.sha256(json.dumps(self.key_fields, sort_keys=True).encode()).hexdigest()[:24]
        name = f"{generator.spec.name}-{generator.length}-{self.key}.json"
        self.path = None if cache_dir is None else Path(cache_dir) / name
        self.plans: dict[int, SamplePlan] = self._load()
        self.from_cache = all(i in self.plans for i in range(count))
        if not self.from_cache:
            for index in range(count):
                if index not in self.plans:
                    sample = generator.sample(index)
                    self.plans[index] = SamplePlan(index, sample.units, sample.prompt_tokens, sample.sha256())
            self._store()

    def _load(self) -> dict[int, SamplePlan]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = read_json(self.path)
            if data.get("key") != self.key_fields:
                return {}
            return {p["index"]: SamplePlan(**p) for p in data["plans"]}
        except Exception as exc:  # a damaged cache file is rebuilt, never trusted
            log.warning("ignoring unreadable sample cache %s: %s", self.path, exc)
            return {}

    def _store(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        plans = [dataclasses.asdict(self.plans[i]) for i in sorted(self.plans)]
        write_json_atomic(self.path, {"key": self.key_fields, "plans": plans})

    @property
    def sha256(self) -> str:
        """Hash of the whole set: the hashes of samples 0..count-1 in order."""
        lines = "\n".join(f"{i}:{self.plans[i].sha256}" for i in range(self.count))
        return hashlib.sha256(lines.encode()).hexdigest()

    def sample(self, index: int) -> Sample:
        plan = self.plans[index]
        sample = self.generator.sample(index, units=plan.units, prompt_tokens=plan.prompt_tokens)
        if sample.sha256() != plan.sha256:
            log.warning("%s: cached plan does not rebuild the same sample; regenerating it", sample.id)
            sample = self.generator.sample(index)
            self.plans[index] = SamplePlan(index, sample.units, sample.prompt_tokens, sample.sha256())
            self._store()
        return sample

    def describe(self) -> dict[str, Any]:
        tokens = [self.plans[i].prompt_tokens for i in range(self.count)]
        return {
            "sha256": self.sha256,
            "samples": self.count,
            "cache": None if self.path is None else str(self.path),
            "from_cache": self.from_cache,
            "prompt_tokens": {"min": min(tokens), "max": max(tokens)},
        }
