"""Training data for the demo models: RULER-style retrieval samples from our own generators, plus plain text.

Every training sample comes from the same generators `jamba-eval run ruler` evaluates with (template `base`, the
byte tokenizer), so the prompt format is exactly the one scored. Evaluation and training never share a prompt:
a RULER sample's randomness is keyed by (seed, task, length, index), evaluation seeds are the small integers a
user passes (`--seed`, default 42), and training seeds live at `TRAIN_SEED_BASE` + seed (>= 2^40), a range no
evaluation uses. `check_train_seed` refuses anything below it.

A batch row is `BOS + prompt + answer + EOS`: the loss covers the answer and EOS (so the model learns to stop) at
full weight, the question after the context and the answer prefix at a lower weight (they repeat the needle's key,
the same skill with a denser signal), and the context's own next-token loss at a small weight (see `train.loop`).

A drill row (`drill`) packs many RULER needles ("One of the special magic numbers for {key} is: {value}.", the
exact needle sentence) into a short noise or essay haystack and then asks for every one of them, in random order,
with RULER's own answer prefix ("The special magic number for {key} mentioned in the provided text is" +
" {value}.") or with the needle's own opening words (then the answer is a plain copy of what followed them, the
induction pattern a model learns first and builds the retrieval on). It exists because a retrieval row of the real
task spends ~450 bytes of template on one 7-digit answer: a tiny byte-level model trained only on those saw too
few retrieval events on a CPU budget to form the "find the key, copy what follows" circuit (measured: no progress
on the digits in 4M tokens). A drill row holds one needle and one question per ~180 tokens and fits from 256
tokens, so the length curriculum starts with short drill rows (and text) before the full RULER prompts fit.

A plain-text row is a window of the public-domain State of the Union corpus (the essay haystack) with next-byte
loss on every token, so the model stays a language model and not only a lookup table.

Everything is a pure function of (seed, step, row): no hidden RNG state, so a resumed run sees the same batches.
"""

from __future__ import annotations

import dataclasses
import functools
import random

import torch

from jamba_eval.ruler.dataset import make_generator
from jamba_eval.ruler.fit import UnreachableLength
from jamba_eval.ruler.generator import TaskGenerator, sample_seed
from jamba_eval.ruler.haystack import NOISE_SENTENCE, load_corpus
from jamba_eval.ruler.tasks import TASKS
from jamba_eval.ruler.templates import PromptTemplate
from jamba_eval.ruler.words import NEEDLE, random_value
from jamba_eval.tokenizer import ByteTokenizer

TRAIN_SEED_BASE = 1 << 40  # training generator seeds are TRAIN_SEED_BASE + seed; evaluation seeds stay below
IGNORE = -100  # label of positions without loss (torch's cross_entropy ignore_index)
ANSWER = 2  # position kind of the answer tokens and EOS
QUESTION_MARKERS = {
    "niah": "\nWhat ",
    "variable_tracking": "\nQuestion:",
}  # where the question after the context starts

DRILL_TOKENS_PER_NEEDLE = 180  # a drill row of L tokens holds L // 180 needles (each ~70 bytes + its query)
DRILL_QUERIES = (
    "The special magic number for {key} mentioned in the provided text is",  # RULER's answer prefix
    "One of the special magic numbers for {key} is:",  # the needle's own words: a plain copy, learnt first
)

# What a batch is drawn from, with weights (tasks that do not fit a length are left out at that length).
DEFAULT_MIXTURE: dict[str, float] = {
    "drill": 0.5,  # many needles, every one asked for (fits from 256 tokens)
    "niah_single_1": 0.1,  # needle in repeated noise sentences (fits from ~640 tokens)
    "niah_single_2": 0.1,  # needle in essays
    "niah_multikey_1": 0.1,  # essays with distractor needles
    "vt": 0.08,  # variable tracking (multi-hop; fits from ~1.5K tokens)
    "lm": 0.12,  # plain text
}
EXTRA_TASKS = ("lm", "drill")  # mixture entries that are not RULER tasks


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
        unknown = [name for name in self.mixture if name not in EXTRA_TASKS and name not in TASKS]
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
                if name == "drill" and length < DRILL_TOKENS_PER_NEEDLE:
                    continue
                if name not in EXTRA_TASKS:
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
        if task == "drill":
            return self.drill_row(step, row, length)
        try:
            sample = self.generator(task, length).sample(step * 1_000_003 + row)
        except UnreachableLength:  # a task that just fits this length can draw a sample (a longer key) that does not
            return self.drill_row(step, row, length)
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

    def drill_row(self, step: int, row: int, length: int) -> Row:
        """Needles between the lines (noise) or sentences (essay) of a haystack, then one query line per needle in
        random order (see the module docstring); the haystack takes whatever the needles and queries leave."""
        rng = random.Random(sample_seed(self.generator_seed, "drill", step, row))
        count = max(1, length // DRILL_TOKENS_PER_NEEDLE)
        keys: list[str] = []
        while len(keys) < count:
            key = random_value("words", rng)
            if key not in keys:
                keys.append(key)
        values = [random_value("numbers", rng) for _ in keys]
        needles = [NEEDLE.format(type_needle_v="numbers", key=k, value=v) for k, v in zip(keys, values, strict=True)]
        encode = self.tokenizer.encode
        tail, tail_kinds = [], []
        for i in rng.sample(range(count), count):
            head = encode(DRILL_QUERIES[rng.randrange(len(DRILL_QUERIES))].format(key=keys[i]))
            value = encode(f" {values[i]}.\n")
            tail += head + value
            tail_kinds += [1] * len(head) + [ANSWER] * len(value)
        room = length - 1 - len(tail) - sum(len(encode(n)) + 1 for n in needles)
        units, sep = self._drill_haystack(rng, room)
        slots = sorted(rng.randint(0, len(units)) for _ in needles)
        while True:
            pieces = list(units)
            for slot, needle in sorted(zip(slots, needles, strict=True), key=lambda x: -x[0]):
                pieces.insert(min(slot, len(pieces)), needle)
            context = [self.tokenizer.bos_token_id, *encode(sep.join(pieces) + "\n")]
            if len(context) + len(tail) <= length or not units:
                break
            units.pop()  # multi-byte characters or separators took more room than estimated
        ids = (context + tail)[:length]
        kinds = ([0] * (len(context) - 1) + tail_kinds + [0])[: len(ids)]
        return Row(ids, [*ids[1:], IGNORE], kinds, "drill")

    def _drill_haystack(self, rng: random.Random, size: int) -> tuple[list[str], str]:
        """About `size` bytes of haystack as (units, separator), like RULER's: noise lines joined by newlines, or
        essay sentences (a window of the corpus from a sentence start) joined by spaces."""
        if rng.random() < 0.5:
            return [NOISE_SENTENCE] * max(0, (size + 1) // (len(NOISE_SENTENCE) + 1)), "\n"
        corpus = load_corpus().base
        start = corpus.find(". ", rng.randrange(len(corpus) - size - 2)) + 2
        units, used = [], -1
        for sentence in corpus[start : start + size + 4096].split(". ")[:-1]:
            used += len(sentence) + 2
            if used > size:
                break
            units.append(sentence + ".")
        return units, " "

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
