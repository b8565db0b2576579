"""Keys, values and word lists as RULER makes them (reference/ruler.md §1.3-1.4).

- numbers: 7-digit integers (1,000,000-9,999,999);
- words: "adjective-noun" pairs from wonderwords' `adjectivelist.txt` x `nounlist.txt` (910 x 6,782 unique);
- uuids: `uuid.UUID(int=getrandbits(128), version=4)`;
- the common-words vocabulary: wonderwords nouns + adjectives + verbs (8,166 unique). Where RULER needs more
  distinct words it falls back to `english_words.json` (Git LFS, not obtainable offline); we fall back to a fixed
  sequence of distinct adjective-noun compounds instead (same role: a larger list of real-looking words).
"""

from __future__ import annotations

import functools
import importlib.resources
import random
import uuid

NEEDLE = "One of the special magic {type_needle_v} for {key} is: {value}."
_COMPOUND_SEED = 0x52554C4552  # fixed: the extended vocabulary is one list, like RULER's english_words.json


@functools.cache
def wonderwords_list(name: str) -> tuple[str, ...]:
    """`nounlist.txt`, `adjectivelist.txt` or `verblist.txt` from the installed wonderwords package."""
    text = (importlib.resources.files("wonderwords") / "assets" / name).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@functools.lru_cache(maxsize=1)
def _key_parts() -> tuple[tuple[str, ...], tuple[str, ...]]:
    adjectives = tuple(sorted(set(wonderwords_list("adjectivelist.txt"))))
    return adjectives, tuple(sorted(set(wonderwords_list("nounlist.txt"))))


def random_number(rng: random.Random) -> str:
    return str(rng.randint(10**6, 10**7 - 1))


def random_word_key(rng: random.Random) -> str:
    adjectives, nouns = _key_parts()
    pick = rng.randrange(len(adjectives) * len(nouns))
    return f"{adjectives[pick // len(nouns)]}-{nouns[pick % len(nouns)]}"


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def random_value(kind: str, rng: random.Random) -> str:
    if kind == "numbers":
        return random_number(rng)
    if kind == "words":
        return random_word_key(rng)
    if kind == "uuids":
        return random_uuid(rng)
    raise ValueError(f"unknown needle type {kind!r}; expected numbers, words or uuids")


@functools.lru_cache(maxsize=1)
def common_words() -> tuple[str, ...]:
    """RULER's CWE vocabulary: sorted unique wonderwords nouns + adjectives + verbs."""
    words = wonderwords_list("nounlist.txt") + wonderwords_list("adjectivelist.txt") + wonderwords_list("verblist.txt")
    return tuple(sorted(set(words)))


_compounds: list[str] = []
_compound_state: dict = {}


def extended_words(count: int) -> list[str]:
    """The first `count` entries of a fixed sequence of distinct adjective-noun compounds not in `common_words`."""
    if len(_compounds) < count:
        rng = _compound_state.setdefault("rng", random.Random(_COMPOUND_SEED))
        seen = _compound_state.setdefault("seen", set(common_words()))
        adjectives, nouns = _key_parts()
        while len(_compounds) < count:
            word = f"{rng.choice(adjectives)}-{rng.choice(nouns)}"
            if word not in seen:
                seen.add(word)
                _compounds.append(word)
    return _compounds[:count]
