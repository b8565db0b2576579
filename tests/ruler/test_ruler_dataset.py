"""Samples are pure functions of (seed, task, length, index): order, resume and the cache never change them."""

import json

from jamba_eval.ruler.dataset import SampleSet, make_generator
from jamba_eval.ruler.haystack import load_corpus
from jamba_eval.ruler.qa_data import find_qa_data
from jamba_eval.ruler.tasks import TASK_NAMES, TASKS
from jamba_eval.ruler.templates import PromptTemplate
from jamba_eval.tokenizer import ByteTokenizer


class CountingTokenizer(ByteTokenizer):
    """Counts the characters it is asked to tokenize."""

    def __init__(self):
        super().__init__()
        self.chars = 0

    def encode(self, text, add_special_tokens=False):
        self.chars += len(text)
        return super().encode(text, add_special_tokens)

    def encode_with_offsets(self, text):
        self.chars += len(text)
        return super().encode_with_offsets(text)


def make(name, seed=42, length=8192, tokenizer=None, qa_dir=None, template="base"):
    tokenizer = tokenizer or ByteTokenizer()
    spec = TASKS[name]
    qa = find_qa_data(spec.args["dataset"], qa_dir) if spec.kind == "qa" else None
    return make_generator(
        spec, tokenizer, PromptTemplate(template, tokenizer), length, seed, corpus=load_corpus(), qa=qa
    )


def test_same_seed_same_samples_in_any_order(qa_files):
    for name in TASK_NAMES:
        forward = [make(name, qa_dir=qa_files[0]).sample(i) for i in range(4)]
        backward_gen = make(name, qa_dir=qa_files[0])
        backward = {i: backward_gen.sample(i) for i in (3, 1, 2, 0)}
        for sample in forward:
            other = backward[sample.index]
            assert (sample.input, sample.outputs, sample.answer_prefix) == (
                other.input,
                other.outputs,
                other.answer_prefix,
            )
            assert sample.prompt_tokens == other.prompt_tokens and sample.sha256() == other.sha256()
        assert len({s.sha256() for s in forward}) == 4, name  # and the samples differ from each other


def test_seed_changes_the_samples():
    assert make("niah_single_2", seed=1).sample(0).sha256() != make("niah_single_2", seed=2).sample(0).sha256()


def test_sample_set_is_cached_and_rebuilt_without_fitting(tmp_path):
    fresh_tokenizer = CountingTokenizer()
    first = SampleSet(make("niah_single_2", tokenizer=fresh_tokenizer), 5, tmp_path)
    assert not first.from_cache and first.path.exists()
    fitted_chars = fresh_tokenizer.chars
    cached_tokenizer = CountingTokenizer()
    second = SampleSet(make("niah_single_2", tokenizer=cached_tokenizer), 5, tmp_path)
    assert second.from_cache and second.sha256 == first.sha256
    samples = [second.sample(i) for i in range(5)]
    assert fitted_chars > 8192 and cached_tokenizer.chars == 0  # rebuilding from the plan tokenizes nothing
    assert [s.sha256() for s in samples] == [first.plans[i].sha256 for i in range(5)]
    assert [s.prompt_tokens for s in samples] == [first.plans[i].prompt_tokens for i in range(5)]
    # a larger set reuses the cached plans and extends them
    bigger = SampleSet(make("niah_single_2"), 7, tmp_path)
    assert not bigger.from_cache and [bigger.plans[i] for i in range(5)] == [first.plans[i] for i in range(5)]


def test_the_cache_key_covers_what_samples_depend_on(tmp_path):
    base = SampleSet(make("vt"), 2, tmp_path)
    others = [
        SampleSet(make("vt", seed=43), 2, tmp_path),
        SampleSet(make("vt", length=16384), 2, tmp_path),
        SampleSet(make("vt", template="jamba"), 2, tmp_path),
    ]
    assert len({base.path, *(s.path for s in others)}) == 4
    assert len({base.sha256, *(s.sha256 for s in others)}) == 4


def test_a_wrong_cached_plan_is_detected_and_regenerated(tmp_path, caplog):
    good = SampleSet(make("niah_single_2"), 2, tmp_path)
    data = json.loads(good.path.read_text())
    data["plans"][1]["units"] -= 3
    good.path.write_text(json.dumps(data))
    reread = SampleSet(make("niah_single_2"), 2, tmp_path)
    assert reread.from_cache
    with caplog.at_level("WARNING"):
        sample = reread.sample(1)
    assert "does not rebuild the same sample" in caplog.text
    assert sample.sha256() == good.plans[1].sha256 and reread.sha256 == good.sha256
    good.path.write_text("{not json")
    assert not SampleSet(make("niah_single_2"), 2, tmp_path).from_cache  # a damaged file is rebuilt
