"""Fitting is exact: the prompt plus the generation budget fits the length, and one more haystack unit would not.

The generators run in their default (fast) mode, which counts pieces and tokenizes only sample 0's prompt; the
tests tokenize every final prompt, and the prompt with one more unit, themselves.
"""

import re

import pytest

from jamba_eval.ruler.dataset import make_generator
from jamba_eval.ruler.fit import UnreachableLength, largest_fitting
from jamba_eval.ruler.haystack import load_corpus
from jamba_eval.ruler.qa_data import find_qa_data
from jamba_eval.ruler.tasks import TASK_NAMES, TASKS
from jamba_eval.ruler.templates import PromptTemplate
from jamba_eval.tokenizer import ByteTokenizer, HFTokenizer


@pytest.fixture(scope="module")
def bpe(bpe_tokenizer_dir):
    return HFTokenizer(bpe_tokenizer_dir)


def make(name, tokenizer, length, qa_dir, template="base"):
    spec = TASKS[name]
    qa = find_qa_data(spec.args["dataset"], qa_dir) if spec.kind == "qa" else None
    return make_generator(spec, tokenizer, PromptTemplate(template, tokenizer), length, 7, corpus=load_corpus(), qa=qa)


def assert_exact(gen, indices):
    for index in indices:
        sample = gen.sample(index)
        real = gen.tokenizer.count(sample.prompt)
        assert real == sample.prompt_tokens, f"{sample.id}: counted {sample.prompt_tokens}, real {real}"
        assert real + gen.spec.tokens_to_generate <= gen.length
        one_more = gen.real_tokens(gen._draw(index), sample.units + 1)
        assert one_more + gen.spec.tokens_to_generate > gen.length, f"{sample.id}: one more unit still fits"


@pytest.mark.parametrize("length", [4096, 16384])
@pytest.mark.parametrize("name", TASK_NAMES)
def test_exact_fit_byte_tokenizer(name, length, qa_files):
    if name == "qa_2" and length == 4096:
        pytest.skip("HotpotQA's 10 paragraphs alone exceed 4096 bytes (see test_unreachable_length_is_a_clear_error)")
    assert_exact(make(name, ByteTokenizer(), length, qa_files[0]), [0, 1])


@pytest.mark.parametrize("length", [4096, 32768])
@pytest.mark.parametrize("name", TASK_NAMES)
def test_exact_fit_trained_bpe(name, length, bpe, qa_files):
    assert_exact(make(name, bpe, length, qa_files[0]), [0, 1])


@pytest.mark.parametrize("template", ["jamba", "chat"])
def test_exact_fit_under_model_templates(template, bpe, qa_files):
    for name in ("niah_single_2", "vt", "cwe", "qa_1"):
        assert_exact(make(name, bpe, 8192, qa_files[0], template), [0])


@pytest.mark.parametrize("name", ["niah_multikey_1", "fwe"])
def test_exact_fit_trained_bpe_128k(name, bpe, qa_files):
    assert_exact(make(name, bpe, 131072, qa_files[0]), [0])


@pytest.mark.slow
@pytest.mark.parametrize("name", TASK_NAMES)
def test_exact_fit_trained_bpe_128k_all_tasks(name, bpe, qa_files):
    assert_exact(make(name, bpe, 131072, qa_files[0]), [0, 1])


def test_unreachable_length_is_a_clear_error(qa_files):
    gen = make("qa_2", ByteTokenizer(), 4096, qa_files[0])
    with pytest.raises(UnreachableLength, match=r"qa_2 at 4096 tokens \(sample 0\) cannot fit: it needs \d+ prompt"):
        gen.sample(0)
    with pytest.raises(UnreachableLength):
        make("niah_single_2", ByteTokenizer(), 300, qa_files[0]).sample(0)


class MergingTokenizer(ByteTokenizer):
    """A byte tokenizer that also merges ".\\n" into one token: not additive where RULER's pieces meet."""

    _TOKEN = re.compile(r"\.\n|.", re.DOTALL)

    def encode_with_offsets(self, text):
        matches = list(self._TOKEN.finditer(text))
        return [300 if m.group() == ".\n" else ord(m.group()) % 256 for m in matches], [m.span() for m in matches]

    def encode(self, text, add_special_tokens=False):
        return self.encode_with_offsets(text)[0]

    def fingerprint(self):
        return "merging-test"


def test_a_non_additive_tokenizer_falls_back_to_exact_re_tokenization(caplog, qa_files):
    gen = make("niah_single_1", MergingTokenizer(), 4096, qa_files[0])
    with caplog.at_level("WARNING"):
        assert_exact(gen, [0, 1])
    assert gen._exact is False
    assert "does not count additively" in caplog.text


def test_largest_fitting_searches_from_any_start():
    tokens = [0, 3, 5, 5, 9, 12, 12, 20]

    def f(n):
        return tokens[n] if n < len(tokens) else 100 * n

    for start in range(0, 12):
        assert largest_fitting(f, 12, start) == 6
        assert largest_fitting(f, 4, start) == 1
    with pytest.raises(UnreachableLength):
        largest_fitting(lambda n: 10 + n, 5, 3)
    # not monotone: the answer still fits, and the next unit does not
    bumpy = [1, 2, 6, 3, 7, 9]
    n = largest_fitting(lambda n: bumpy[n] if n < 6 else 99, 5, 0)
    assert bumpy[n] <= 5 < (bumpy[n + 1] if n + 1 < 6 else 99)
