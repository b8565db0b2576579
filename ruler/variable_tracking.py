"""Variable tracking (RULER `scripts/data/synthetic/variable_tracking.py`; reference/ruler.md §1.4).

A chain `VAR ABCDE = 12345`, `VAR FGHIJ = VAR ABCDE `, ... (num_hops hops; hop lines keep RULER's trailing space)
is scattered through the noise haystack, one line each; the answer is every variable in the chain. A one-shot
demonstration comes first: RULER builds it once per run at a 500-token budget with the raw task template
(3-letter names, value 12345), then per sample renames its variables and value; it counts against the budget.

Differences from RULER: the demonstration's new names are drawn distinct and substituted structurally (RULER's
`str.replace` could also rewrite a name that happens to be "VAR"); chain variable names are drawn distinct.
"""

from __future__ import annotations

import dataclasses
import random
import string
from typing import Any

import numpy as np

from jamba_eval.ruler.fit import UnreachableLength, largest_fitting
from jamba_eval.ruler.generator import Rendered, TaskGenerator, sample_seed
from jamba_eval.ruler.haystack import NOISE_SENTENCE
from jamba_eval.ruler.niah import lead_tokens, split_lead
from jamba_eval.ruler.templates import ANSWER_PREFIXES, TASK_TEMPLATES, Frame

ICL_BUDGET = 500  # RULER builds the demonstration at max_seq_length=500 with no generation budget


def chain_lines(names: list[str], value: int | str) -> list[str]:
    return [f"VAR {names[0]} = {value}"] + [f"VAR {names[j + 1]} = VAR {names[j]} " for j in range(len(names) - 1)]


def noise_with_chains(noise: int, chains: list[list[str]], rng: random.Random) -> str:
    """RULER's layout: each chain's lines go, in order, at distinct random line positions."""
    lines = [NOISE_SENTENCE] * noise
    for chain in chains:
        for j, where in enumerate(sorted(rng.sample(range(len(lines)), len(chain)))):
            lines.insert(where + j, chain[j])
    return "\n".join(lines).replace(". \n", ".\n")


def distinct_names(rng: random.Random, count: int, letters: int) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = "".join(rng.choices(string.ascii_uppercase, k=letters))
        if name not in names:
            names.append(name)
    return names


@dataclasses.dataclass
class VtDraw:
    frame: Frame
    chains: list[list[str]]
    answers: list[str]
    render_seed: int


class VariableTrackingGenerator(TaskGenerator):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.spec.args.get("type_haystack", "noise") != "noise":
            raise ValueError("only the noise haystack is implemented for variable tracking (RULER's default)")
        self.num_chains = self.spec.args["num_chains"]
        self.num_hops = self.spec.args["num_hops"]
        self.min_units = self.num_hops + 1
        self._icl: tuple[int, int] | None = None  # (noise lines, layout seed) of the demonstration

    def _icl_text(self, rng: random.Random) -> str:
        """The demonstration, renamed for one sample."""
        hops = min(10, self.num_hops)
        if self._icl is None:
            base = random.Random(sample_seed(self.seed, self.spec.name, "icl"))
            layout = base.getrandbits(64)
            names = distinct_names(base, hops + 1, 3)

            def tokens(noise: int) -> int:
                return self.tokenizer.count(self._icl_prompt(noise, layout, names, 12345))

            try:
                noise = largest_fitting(tokens, ICL_BUDGET, 5 + hops, hops + 1)
            except UnreachableLength:
                noise = hops + 1  # RULER falls back to its smallest size when nothing fits 500 tokens
            self._icl = (noise, layout)
        noise, layout = self._icl
        names = distinct_names(rng, hops + 1, 3)
        value = rng.randint(10000, 99998)
        return self._icl_prompt(noise, layout, names, value) + " " + " ".join(names) + "\n"

    def _icl_prompt(self, noise: int, layout: int, names: list[str], value: int) -> str:
        context = noise_with_chains(noise, [chain_lines(names, value)], random.Random(layout))
        fields = {"context": context, "query": value, "num_v": len(names)}
        kind = "variable_tracking"
        return TASK_TEMPLATES[kind].format(**fields) + ANSWER_PREFIXES[kind].format(**fields)

    def draw(self, index: int, rng: random.Random, np_rng: np.random.Generator) -> VtDraw:
        names = distinct_names(rng, self.num_chains * (self.num_hops + 1), 5)
        chains, first_value = [], None
        for c in range(self.num_chains):
            value = rng.randint(10000, 99998)
            first_value = value if first_value is None else first_value
            chains.append(chain_lines(names[c * (self.num_hops + 1) : (c + 1) * (self.num_hops + 1)], value))
        answers = names[: self.num_hops + 1]
        frame = self.template.frame("variable_tracking", {"query": first_value, "num_v": self.num_hops + 1})
        icl = self._icl_text(rng)
        cut = frame.head.index(TASK_TEMPLATES["variable_tracking"][:20])
        frame = Frame(frame.head[:cut] + icl + "\n" + frame.head[cut:], frame.tail, frame.answer_prefix)
        return VtDraw(frame, chains, answers, rng.getrandbits(64))

    def count(self, draw: VtDraw, units: int) -> int:
        head, lead = split_lead(draw.frame.head)
        lines = [line for chain in draw.chains for line in chain]
        return (
            self.counter.count(head)
            + lead_tokens(self.counter, lead, NOISE_SENTENCE)
            + units * self.counter.marginal("\n" + NOISE_SENTENCE)
            + sum(self.counter.marginal("\n" + line) for line in lines)
            + self.counter.marginal(draw.frame.tail + draw.frame.answer_prefix)
        )

    def render(self, draw: VtDraw, units: int) -> Rendered:
        context = noise_with_chains(units, draw.chains, random.Random(draw.render_seed))
        return Rendered(draw.frame.head + context + draw.frame.tail, draw.frame.answer_prefix, list(draw.answers))
