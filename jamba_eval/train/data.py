"""Training data for the demo models: RULER-style retrieval samples from our own generators, plus plain text.

Every training sample comes from the same generators `jamba-eval run ruler` evaluates with (template `base`, the
byte tokenizer), so the prompt format is exactly the one scored. Evaluation and training never share a prompt:
a RULER sample's randomness is keyed by (seed, task, length, index), evaluation seeds are the small integers a
user passes (`--seed`, default 42), and training seeds live at `TRAIN_SEED_BASE` + seed (>= 2^40), a range no
evaluation uses. `check_train_seed` refuses anything below it.

A batch row is `BOS + prompt + answer + EOS`: the main loss covers the question after the context, the answer
prefix, the answer and EOS (so the model learns to stop). The question repeats the needle's key, so predicting it
is the same skill as the answer (copy from far back in context) with a denser signal; the answer itself is the
part that decides the score. The context's own next-token loss is added with a small weight by the training loop.

A plain-text row is a window of the public-domain State of the Union corpus (the essay haystack) with next-byte
loss on every token, so the model stays a language model and not only a lookup table.

Everything is a pure function of (seed, step, row): no hidden RNG state, so a resumed run sees the same batches.
"""

from __future__ import annotations

import dataclasses
import functools

import torch

from jamba_eval.ruler.dataset import make_generator
from jamba_eval.ruler.fit import UnreachableLength
from jamba_eval.ruler.generator import TaskGenerator, sample_seed
from jamba_eval.ruler.haystack import load_corpus
from jamba_eval.ruler.tasks import TASKS
from jamba_eval.ruler.templates import PromptTemplate
from jamba_eval.tokenizer import ByteTokenizer

TRAIN_SEED_BASE = 1 << 40  # training generator seeds are TRAIN_SEED_BASE + seed; evaluation seeds stay below
IGNORE = -100  # label of positions without loss (torch's cross_entropy ignore_index)
ANSWER = 2  # position kind of the answer tokens and EOS
QUESTION_MARKERS = {
    "niah": "\nWhat ",
    "variable_tracking": "\nQuestion:",
}  # where the question after the context starts

# What a batch is drawn from, with weights: three retrieval tasks and variable tracking, plus plain text.
DEFAULT_MIXTURE: dict[str, float] = {
    "niah_single_1": 0.25,  # needle in repeated noise sentences
    "niah_single_2": 0.25,  # needle in essays
    "niah_multikey_1": 0.2,  # essays with distractor needles
    "vt": 0.1,  # variable tracking (multi-hop)
    "lm": 0.2,  # plain text
}


def check_train_seed(generator_seed: int) -> None:
    if generator_seed < TRAIN_SEED_BASE:
        raise ValueError(f"training seed {generator_seed} is in the evaluation range (< {TRAIN_SEED_BASE})")


@dataclasses.dataclass(frozen=True)
class Row:
    ids: list[int]
    labels: list[int]  # next token at each position; IGNORE where there is no loss
    answer: list[int]  # 0: context (small weight), 1: question / text token (main loss), ANSWER: the answer + EOS
    task: str


class TrainData:
    """Rows and batches for a training seed. `row(step, i, length)` is deterministic and independent of order."""

    def __init__(self, seed: int, mixture: dict[str, float] | None = None):
        self.seed = seed
        self.generator_seed = TRAIN_SEED_BASE + seed
        check_train_seed(self.generator_seed)
        self.mixture = dict(mixture or DEFAULT_MIXTURE)
        unknown = [name for name in self.mixture if name != "lm" and name not in TASKS]
        if unknown:
            raise ValueError(f"unknown tasks in the training mixture: {', '.join(unknown)}")
        self.tokenizer = ByteTokenizer()
        self.template = PromptTemplate("base", self.tokenizer)

    @functools.lru_cache(maxsize=64)  # noqa: B019
    def mixture_at(self, length: int) -> tuple[tuple[str, float], ...]:
        """(task, cumulative probability) of the tasks whose prompts fit in `length` tokens (vt needs ~2K)."""
        fitting = {}
        for name, weight in sorted(self.mixture.items()):
            try:
                if name != "lm":
                    self.generator(name, length).sample(0)
            except UnreachableLength:
                continue
            fitting[name] = weight
        if not fitting:
            raise ValueError(f"no task of the training mixture fits in {length} tokens")
        total, running, table = sum(fitting.values()), 0.0, []
        for name, weight in fitting.items():
            running += weight / total
            table.append((name, running))
        return tuple(table)

    def task_for(self, step: int, row: int, length: int) -> str:
        u = sample_seed(self.generator_seed, "task", step, row) / 2**64
        table = self.mixture_at(length)
        return next((name for name, c in table if u < c), table[-1][0])

    @functools.lru_cache(maxsize=64)  # noqa: B019 (a few generators per length, alive as long as the data)
    def generator(self, task: str, length: int) -> TaskGenerator:
        spec = TASKS[task]
        return make_generator(spec, self.tokenizer, self.template, length, self.generator_seed, corpus=load_corpus())

    def row(self, step: int, row: int, length: int) -> Row:
        """One sample of at most `length` tokens (BOS included)."""
        task = self.task_for(step, row, length)
        bos, eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        if task == "lm":
            return self.text_row(step, row, length)
        try:
            sample = self.generator(task, length).sample(step * 1_000_003 + row)
        except UnreachableLength:  # a task that just fits this length can draw a sample (a longer key) that does not
            return self.text_row(step, row, length)
        question = sample.input.rfind(QUESTION_MARKERS[TASKS[task].kind])
        context = [bos, *self.tokenizer.encode(sample.input[:question])]
        prompt = [*context, *self.tokenizer.encode(sample.prompt[question:])]
        answer = [*self.tokenizer.encode(answer_text(task, sample.outputs)), eos]
        ids = (prompt + answer)[:length]
        kinds = [0] * (len(context) - 1) + [1] * (len(prompt) - len(context)) + [ANSWER] * len(answer) + [0]
        return Row(ids, [*ids[1:], IGNORE], kinds[: len(ids)], task)

    def text_row(self, step: int, row: int, length: int) -> Row:
        """A window of the whole corpus (`.text` is only the prefix materialised so far), loss on every byte."""
        text = load_corpus().base
        start = sample_seed(self.generator_seed, "lm", step, row) % (len(text) - 4 * length)
        ids = [self.tokenizer.bos_token_id, *self.tokenizer.encode(text[start : start + 4 * length])][:length]
        return Row(ids, [*ids[1:], IGNORE], [1] * (len(ids) - 1) + [0], "lm")

    def batch(
        self, step: int, batch_size: int, length: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
        """(input ids [b, T], next-token labels [b, T], position kinds [b, T] (see `Row.answer`), tasks),
        right-padded."""
        rows = [self.row(step, i, length) for i in range(batch_size)]
        width = max(len(r.ids) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((batch_size, width), pad, dtype=torch.long)
        labels = torch.full((batch_size, width), IGNORE, dtype=torch.long)
        answer = torch.zeros((batch_size, width), dtype=torch.int8)
        for i, r in enumerate(rows):
            ids[i, : len(r.ids)] = torch.tensor(r.ids)
            labels[i, : len(r.labels)] = torch.tensor(r.labels)
            answer[i, : len(r.answer)] = torch.tensor(r.answer)
        return ids, labels, answer, [r.task for r in rows]


def answer_text(task: str, outputs: list[str]) -> str:
    """What a perfect model generates after the answer prefix (scored with RULER's string_match_all)."""
    if TASKS[task].kind == "variable_tracking":
        return " ".join(outputs)  # the prefix ends with "they are: "
    return " " + ", ".join(outputs) + "."
