"""Question answering over many documents (RULER `scripts/data/synthetic/qa.py`; reference/ruler.md §1.4).

Sample i asks question i of the dataset (wrapping around when there are fewer questions than samples). Its
documents are its own (SQuAD: the gold paragraph; HotpotQA: its 10 paragraphs), then the other paragraphs of the
same article (SQuAD), then random other documents; with more documents than the dataset has, the whole document
list repeats (RULER main). They are shuffled and numbered "Document {i}:\\n{text}", separated by blank lines.
The unit is a document (RULER steps by 10). Difference from RULER: the shuffle uses each sample's RNG (RULER's
fixed `Random(seed)` shuffle puts the gold paragraph at the same position in every sample of a length).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import numpy as np

from jamba_eval.ruler.generator import Rendered, TaskGenerator, shuffled
from jamba_eval.ruler.niah import split_lead
from jamba_eval.ruler.qa_data import QaData
from jamba_eval.ruler.templates import Frame


@dataclasses.dataclass
class QaDraw:
    frame: Frame
    outputs: list[str]
    sequence: np.ndarray  # own docs, then shuffled article docs, then shuffled other docs
    own: int
    cumsum: np.ndarray | None
    render_seed: int


class QaGenerator(TaskGenerator):
    def __init__(self, *args: Any, data: QaData, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.data = data
        key = self.tokenizer.fingerprint()
        if key not in data.token_counts:  # shared by every length: a document's count never changes
            data.token_counts[key] = np.full(len(data.docs), -1, dtype=np.int64)
        self._doc_tokens: np.ndarray = data.token_counts[key]
        self._headers = np.zeros(1, dtype=np.int64)  # cumulative tokens of "\n\nDocument i:\n", i >= 2

    def describe(self) -> dict[str, Any]:
        return {"qa_data": self.data.sha256}

    def draw(self, index: int, rng: random.Random, np_rng: np.random.Generator) -> QaDraw:
        item = self.data.items[index % len(self.data.items)]
        frame = self.template.frame("qa", {"query": item.query})
        taken = np.asarray(item.context + item.more, dtype=np.int64)
        others = np_rng.permutation(len(self.data.docs))
        others = others[~np.isin(others, taken)]
        more = np.asarray(item.more, dtype=np.int64)[np_rng.permutation(len(item.more))]
        sequence = np.concatenate([np.asarray(item.context, dtype=np.int64), more, others])
        return QaDraw(frame, list(item.outputs), sequence, len(item.context), None, rng.getrandbits(64))

    def minimum(self, draw: QaDraw) -> int:
        return draw.own

    def _docs(self, draw: QaDraw, units: int) -> np.ndarray:
        """Document indices of a sample with `units` documents, before shuffling."""
        total = len(self.data.docs)
        if units < total:
            return draw.sequence[:units]
        return np.tile(np.arange(total), -(-units // total))[:units]  # RULER: (DOCS * repeats)[:n]

    def _doc_counts(self, indices: np.ndarray) -> np.ndarray:
        missing = np.unique(indices[self._doc_tokens[indices] < 0])
        if missing.size:
            counts = self.counter.marginals([self.data.docs[i] for i in missing])
            self._doc_tokens[missing] = counts
        return self._doc_tokens[indices]

    def _header_tokens(self, units: int, lead: str) -> int:
        if units <= 0:
            return 0
        have = len(self._headers)
        if units > have:
            upto = max(units, 2 * have)
            counts = self.counter.marginals([f"\n\nDocument {i}:\n" for i in range(have + 1, upto + 1)])
            self._headers = np.concatenate([self._headers, self._headers[-1] + np.cumsum(counts)])
        return self.counter.marginal(lead + "Document 1:\n") + int(self._headers[units - 1])

    def count(self, draw: QaDraw, units: int) -> int:
        head, lead = split_lead(draw.frame.head)
        total = len(self.data.docs)
        if units < total:
            if draw.cumsum is None or len(draw.cumsum) <= units:
                upto = min(len(draw.sequence), max(2 * units, 64))
                draw.cumsum = np.concatenate([[0], np.cumsum(self._doc_counts(draw.sequence[:upto]))])
            docs = int(draw.cumsum[units])
        else:
            docs = int(self._doc_counts(self._docs(draw, units)).sum())
        ending = self.counter.marginal(draw.frame.tail + draw.frame.answer_prefix)
        return self.counter.count(head) + self._header_tokens(units, lead) + docs + ending

    def guess(self, draw: QaDraw) -> int:
        low = self.minimum(draw)
        probe = min(len(self.data.docs), low + 64)
        if probe <= low:
            return low
        per_doc = max(1.0, (self.count(draw, probe) - self.count(draw, low)) / (probe - low))
        return low + max(0, int((self.budget - self.count(draw, low)) / per_doc))

    def render(self, draw: QaDraw, units: int) -> Rendered:
        ordered = self._docs(draw, units)
        docs = [int(ordered[i]) for i in shuffled(len(ordered), draw.render_seed)]
        context = "\n\n".join(f"Document {i + 1}:\n{self.data.docs[d]}" for i, d in enumerate(docs))
        return Rendered(draw.frame.head + context + draw.frame.tail, draw.frame.answer_prefix, draw.outputs)
