"""Each task's samples have RULER's structure (fields, answer prefix, needles and answers, references in the input)."""

import re
from collections import Counter

import pytest

from jamba_eval.ruler.dataset import make_generator
from jamba_eval.ruler.haystack import load_corpus, split_sentences
from jamba_eval.ruler.qa_data import find_qa_data
from jamba_eval.ruler.tasks import QA_TASKS, TASK_NAMES, TASKS, resolve_tasks
from jamba_eval.ruler.templates import ANSWER_PREFIXES, PromptTemplate
from jamba_eval.tokenizer import ByteTokenizer

NEEDLE = re.compile(r"One of the special magic (\w+) for (.+?) is: (\S+)\.")


def generator(name, length=8192, tokenizer=None, qa_dir=None, template="base", seed=42):
    tokenizer = tokenizer or ByteTokenizer()
    spec = TASKS[name]
    qa = find_qa_data(spec.args["dataset"], qa_dir) if spec.kind == "qa" else None
    return make_generator(
        spec, tokenizer, PromptTemplate(template, tokenizer), length, seed, corpus=load_corpus(), qa=qa
    )


def test_the_table_has_rulers_13_tasks_in_order():
    assert TASK_NAMES == (
        "niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multikey_2", "niah_multikey_3",
        "niah_multivalue", "niah_multiquery", "vt", "cwe", "fwe", "qa_1", "qa_2",
    )  # fmt: skip
    assert [TASKS[n].tokens_to_generate for n in ("niah_single_1", "vt", "cwe", "fwe", "qa_1")] == [
        128,
        30,
        120,
        50,
        32,
    ]
    assert {TASKS[n].metric for n in QA_TASKS} == {"string_match_part"}
    assert {TASKS[n].metric for n in TASK_NAMES if n not in QA_TASKS} == {"string_match_all"}
    assert [s.name for s in resolve_tasks(["fwe", "vt"])] == ["vt", "fwe"]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_task_has_rulers_record_fields(name, qa_files):
    gen = generator(name, qa_dir=qa_files[0])
    sample = gen.sample(3)
    record = sample.ruler_record()
    assert {"index", "input", "outputs", "length", "answer_prefix"} <= set(record)
    assert record["index"] == 3 and record["length"] == sample.prompt_tokens + gen.spec.tokens_to_generate <= 8192
    assert sample.outputs and all(isinstance(o, str) and o for o in sample.outputs)
    assert all(o in sample.input for o in sample.outputs)  # every reference is in the prompt
    assert sample.answer_prefix.startswith(ANSWER_PREFIXES[gen.spec.kind][:10])
    assert sample.id == f"{name}/8192/42/3"


@pytest.mark.parametrize(
    ("name", "needles", "answers", "plural"),
    [
        ("niah_single_1", 1, 1, False),
        ("niah_single_2", 1, 1, False),
        ("niah_single_3", 1, 1, False),
        ("niah_multikey_1", 4, 1, False),
        ("niah_multivalue", 4, 4, True),
        ("niah_multiquery", 4, 4, True),
    ],
)
def test_niah_needles_and_answers(name, needles, answers, plural):
    spec = TASKS[name]
    sample = generator(name).sample(0)
    found = NEEDLE.findall(sample.input)
    assert len(found) == needles
    assert all(kind == spec.args["type_needle_v"] for kind, _, _ in found)  # the needle always says the plural
    assert len(sample.outputs) == answers and set(sample.outputs) <= {v for _, _, v in found}
    queried = re.search(r"for (.+) mentioned in the provided text (is|are)$", sample.answer_prefix)
    assert (queried.group(2) == "are") is plural
    if spec.args["type_needle_v"] == "numbers":
        assert all(re.fullmatch(r"[1-9]\d{6}", v) for v in sample.outputs)
    if spec.args["type_needle_v"] == "uuids":
        assert all(
            re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", v)
            for v in sample.outputs
        )
    keys = {k for _, k, _ in found}
    assert all(re.fullmatch(r"[a-zA-Z -]+-[a-zA-Z-]+", k) for k in keys)  # adjective-noun
    if spec.args["type_haystack"] == "noise":
        lines = sample.input.split("\n")
        assert (
            lines.count("The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.")
            == sample.units
        )


@pytest.mark.parametrize("name", ["niah_multikey_2", "niah_multikey_3"])
def test_needle_haystack_is_distractor_needles_with_other_keys(name):
    sample = generator(name).sample(1)
    found = NEEDLE.findall(sample.input)
    assert len(found) == sample.units + 1
    query = re.search(r"for (.+) mentioned", sample.answer_prefix).group(1)
    assert [v for _, k, v in found if k == query] == sample.outputs  # no distractor shares the queried key


def test_essay_context_is_built_as_ruler_builds_it():
    """Rebuild the context the way RULER's niah.py does (join the first n words, split sentences, insert needles
    between sentences at depth positions, join with spaces) and compare."""
    gen = generator("niah_multikey_1", length=16384)
    for index in range(3):
        sample = gen.sample(index)
        draw = gen._draw(index)
        words = gen.corpus.text.split(" ")[: sample.units]
        text = " ".join(words)
        sents = [text[a:b] for a, b in split_sentences(text)]
        positions = [0, *sorted(int(len(sents) * d / 100) for d in draw.depths), len(sents)]
        parts = []
        for i in range(1, len(positions)):
            parts.append(" ".join(sents[positions[i - 1] : positions[i]]))
            if i - 1 < len(draw.needles):
                parts.append(draw.needles[i - 1])
        assert sample.input == draw.frame.head + " ".join(parts) + draw.frame.tail


def test_variable_tracking_chain_and_one_shot_example():
    sample = generator("vt").sample(2)
    assert len(sample.outputs) == 5 and len(set(sample.outputs)) == 5
    assert all(re.fullmatch(r"[A-Z]{5}", v) for v in sample.outputs)
    value = re.search(r"assigned the value (\d+), they are: $", sample.answer_prefix).group(1)
    assert 10000 <= int(value) <= 99999
    main = sample.input[sample.input.rfind("Memorize and track") :]
    assert f"VAR {sample.outputs[0]} = {value}\n" in main
    for a, b in zip(sample.outputs, sample.outputs[1:], strict=False):
        assert f"VAR {b} = VAR {a} \n" in main + "\n"
    example = sample.input[: sample.input.rfind("Memorize and track")]
    assert example.count("Memorize and track") == 1
    demo_names = re.search(r"they are:  ([A-Z]{3}(?: [A-Z]{3}){4})\n$", example).group(1).split()
    assert f"VAR {demo_names[1]} = VAR {demo_names[0]} " in example


def test_common_words_counts_and_example():
    gen = generator("cwe", length=16384)
    sample = gen.sample(0)
    assert len(sample.outputs) == 10
    main = sample.input[sample.input.rfind("Memorize the ones that appear most often.\n") :].split("\n")[1]
    words = re.findall(r"\d+\. (.+?)(?= \d+\. |$)", main)
    numbers = [int(n) for n in re.findall(r"(?:^| )(\d+)\. ", main)]
    assert numbers == list(range(1, len(words) + 1))
    counts = Counter(words)
    assert {counts[w] for w in sample.outputs} == {gen.freq_cw}
    assert {c for w, c in counts.items() if w not in sample.outputs} == {gen.freq_ucw}
    assert len(counts) == sample.units
    assert sample.input.count("What are the 10 most common words in the above list?") == 2  # one-shot example
    assert sample.input.count("Answer: The top 10 words that appear most often in the list are: 1. ") == 1


def test_common_words_uses_rulers_short_variant_when_the_list_cannot_fit():
    assert generator("cwe", length=2048).short  # RULER: below 4096 tokens
    assert generator("cwe", length=4096).short  # one token per byte: the standard list cannot fit 4096
    assert not generator("cwe", length=32768).short


def test_freq_words_follow_the_zipf_counts():
    sample = generator("fwe", length=16384).sample(0)
    context = sample.input[sample.input.rfind("coded words. ") + 13 : sample.input.rfind("\nQuestion:")]
    counts = Counter(context.split(" "))
    ranked = [w for w, _ in counts.most_common()]
    assert ranked[0] == "..." and ranked[1:4] == sample.outputs
    assert all(re.fullmatch(r"[a-z]{6}", w) for w in sample.outputs)
    assert sum(counts.values()) <= sample.units  # floor() of each rank's share


@pytest.mark.parametrize("name", QA_TASKS)
def test_qa_documents_hold_the_question_and_its_paragraphs(name, qa_files):
    gen = generator(name, qa_dir=qa_files[0])
    for index in (0, 5):
        sample = gen.sample(index)
        item = gen.data.items[index]
        assert sample.answer_prefix == " Answer:" and sample.input.endswith(f"Question: {item.query}")
        assert sample.outputs == item.outputs
        numbers = [int(n) for n in re.findall(r"Document (\d+):\n", sample.input)]
        assert numbers == list(range(1, sample.units + 1))
        for doc in item.context:
            assert gen.data.docs[doc] in sample.input
        assert sample.input.count("Answer the question based on the given documents.") == 2
