"""The demo training recipe: deterministic data disjoint from evaluation, a loss that falls, bitwise reproducible
weights, and exact resume. Tiny configs and a few steps only (the real recipe runs in `jamba-eval train-demo`)."""

from __future__ import annotations

import shutil

import pytest
import torch

from jamba_eval.errors import UserError
from jamba_eval.ruler.config import RulerConfig
from jamba_eval.ruler.dataset import make_generator
from jamba_eval.ruler.haystack import load_corpus
from jamba_eval.ruler.tasks import TASKS
from jamba_eval.ruler.templates import PromptTemplate
from jamba_eval.tokenizer import ByteTokenizer
from jamba_eval.train import loop
from jamba_eval.train.data import ANSWER, IGNORE, TRAIN_SEED_BASE, TrainData, answer_text, check_train_seed
from jamba_eval.train.loop import TrainConfig, model_config, train

# A 2-layer model (Mamba then attention, one MoE layer) small enough for a few steps in a second or two.
TINY = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    attn_layer_period=2,
    attn_layer_offset=1,
    num_experts=4,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=None,
)


def tiny_config(tmp_path, name: str, steps: int = 4, **extra) -> TrainConfig:
    options = dict(steps=steps, tokens_per_step=1536, min_length=768, max_length=768, warmup=2, checkpoint_every=2)
    return TrainConfig(output_dir=tmp_path / name, config_overrides=TINY, **{**options, **extra})


def state(folder) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_batches_are_pure_functions_of_seed_and_step():
    first, second = TrainData(0), TrainData(0)
    ids, labels, answer, tasks = first.batch(7, 3, 1024)
    again = second.batch(7, 3, 1024)
    assert torch.equal(ids, again[0]) and torch.equal(labels, again[1]) and torch.equal(answer, again[2])
    assert tasks == again[3]
    alone = second.row(7, 2, 1024)  # a row does not depend on the rows drawn before it
    assert ids[2, : len(alone.ids)].tolist() == alone.ids
    assert not torch.equal(ids, TrainData(1).batch(7, 3, 1024)[0])


def test_rows_label_the_question_answer_and_eos_and_shift_by_one():
    data = TrainData(0)
    tokenizer = ByteTokenizer()
    seen = set()
    for row in range(12):
        r = data.row(3, row, 1024)
        seen.add(r.task)
        assert len(r.ids) == len(r.labels) == len(r.answer) <= 1024
        assert r.labels[:-1] == r.ids[1:] and r.labels[-1] == IGNORE
        if r.task == "lm":
            assert r.answer == [1] * (len(r.ids) - 1) + [0]
            continue
        if r.task == "drill":
            continue  # test_drill_rows_ask_for_every_needle_with_rulers_answer_prefix
        answer = [label for label, kind in zip(r.labels, r.answer, strict=True) if kind == ANSWER]
        question = [label for label, kind in zip(r.labels, r.answer, strict=True) if kind == 1]
        assert answer[-1] == tokenizer.eos_token_id
        sample = data.generator(r.task, 1024).sample(3 * 1_000_003 + row)
        assert tokenizer.decode(answer) == answer_text(r.task, sample.outputs)
        assert tokenizer.decode(question).startswith("\nWhat ") and sample.prompt.endswith(tokenizer.decode(question))
        assert tokenizer.decode(r.ids[1 : len(r.ids) - len(answer)]) == sample.prompt
    assert {"lm", "drill"} <= seen and len(seen) >= 4


@pytest.mark.parametrize("length", [256, 1024, 2048])
def test_drill_rows_ask_for_every_needle(length):
    import re

    data = TrainData(0)
    tokenizer = ByteTokenizer()
    haystacks, forms = set(), set()
    for row in range(8):
        r = data.drill_row(5, row, length)
        assert len(r.ids) == len(r.labels) == len(r.answer) and length // 2 < len(r.ids) <= length
        assert r.ids[0] == tokenizer.bos_token_id and r.labels[:-1] == r.ids[1:]
        kinds = "".join(str(k) for k in r.answer)
        end = kinds.index("1")  # the context (small weight) ends where the first query starts
        assert set(kinds[:end]) == {"0"} and kinds.endswith("0")
        context, tail = tokenizer.decode(r.ids[1 : end + 1]), tokenizer.decode(r.ids[end + 1 :])
        needles = dict(re.findall(r"One of the special magic numbers for (\S+) is: (\d{7})\.", context))
        queries = re.findall(
            r"(The special magic number for (\S+) mentioned in the provided text is|"
            r"One of the special magic numbers for (\S+) is:) (\d{7})\.\n",
            tail,
        )
        assert len(needles) == len(queries) == length // 180  # every needle asked for once, with its own value
        assert {k1 or k2: v for _, k1, k2, v in queries} == needles
        forms |= {q.startswith("The") for q, *_ in queries}
        haystacks.add("The grass is green." in context)
        spans = [m.span() for m in re.finditer("2+", kinds)]  # the answers: " {value}.\n" after each query
        assert [tokenizer.decode(r.labels[a:b]) for a, b in spans] == [f" {v}.\n" for *_, v in queries]
    assert haystacks == {True, False} and forms == {True, False}  # both haystacks, both query forms


def test_a_sample_that_does_not_fit_becomes_a_drill_row():
    data = TrainData(0, {"niah_single_2": 1.0})
    rows = [data.row(0, i, 512) for i in range(40)]  # niah_single_2 fits 512 tokens only with short keys
    assert {r.task for r in rows} == {"niah_single_2", "drill"}  # it crashed a run before
    assert all(len(r.ids) <= 512 for r in rows)


def test_variable_tracking_joins_only_where_it_fits():
    data = TrainData(0)
    assert "vt" not in dict(data.mixture_at(1024)) and "vt" in dict(data.mixture_at(2048))
    assert dict(data.mixture_at(256)).keys() == {"drill", "lm"}  # the curriculum starts with drills and text


def test_training_seeds_are_disjoint_from_evaluation_seeds():
    assert TrainData(0).generator_seed >= TRAIN_SEED_BASE > RulerConfig().seed
    with pytest.raises(ValueError, match="evaluation range"):
        check_train_seed(RulerConfig().seed)
    data = TrainData(0)
    tokenizer = ByteTokenizer()
    evaluation = make_generator(
        TASKS["niah_single_2"],
        tokenizer,
        PromptTemplate("base", tokenizer),
        1024,
        RulerConfig().seed,
        corpus=load_corpus(),
    )
    eval_answers = {tuple(evaluation.sample(i).outputs) for i in range(20)}
    eval_prompts = {evaluation.sample(i).prompt for i in range(20)}
    training = data.generator("niah_single_2", 1024)
    for i in range(50):
        sample = training.sample(i)
        assert sample.prompt not in eval_prompts and tuple(sample.outputs) not in eval_answers


def test_layouts_have_near_equal_size():
    sizes = {layout: model_config(layout).num_parameters() for layout in loop.LAYOUTS}
    assert model_config("mamba").num_attention_layers == 0
    assert model_config("attention").num_mamba_layers == 0
    assert model_config("hybrid").layout() == "M M* M M* A M* M M*"
    assert max(sizes.values()) / min(sizes.values()) < 1.03  # 2.03M, 2.05M, 2.03M
    with pytest.raises(UserError, match="layout"):
        TrainConfig(output_dir="x", layout="transformer")


def test_curriculum_and_schedule():
    config = TrainConfig(output_dir="x", steps=300, tokens_per_step=4096, min_length=768, max_length=3072, warmup=10)
    assert [config.length_at(s) for s in (0, 99, 100, 199, 200, 299)] == [768, 768, 1536, 1536, 3072, 3072]
    assert config.lr_at(0) < config.lr_at(9) == config.lr and config.lr_at(299) < 0.2 * config.lr


def test_a_few_steps_reduce_the_loss(tmp_path):
    config = tiny_config(tmp_path, "run", steps=16, lr=1e-2)
    train(config)
    import json

    losses = [e["loss"] for e in json.loads((config.output_dir / "train_log.json").read_text())["log"]]
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.5


def test_same_seed_same_weights_and_resume_is_exact(tmp_path, monkeypatch):
    first = train(tiny_config(tmp_path, "a"))
    second = train(tiny_config(tmp_path, "b"))
    a, b = state(first), state(second)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other = state(train(tiny_config(tmp_path, "c", seed=1)))
    assert not all(torch.equal(a[k], other[k]) for k in a)

    # resume: keep the checkpoint of step 2 of a fresh run, then continue it in a new directory
    saved = loop._save

    def keep_step_two(directory, config, model, optimizer, step, log):
        saved(directory, config, model, optimizer, step, log)
        if step == 2:
            shutil.copytree(directory, tmp_path / "d" / "checkpoint")

    monkeypatch.setattr(loop, "_save", keep_step_two)
    train(tiny_config(tmp_path, "e"))
    monkeypatch.setattr(loop, "_save", saved)
    resumed = state(train(tiny_config(tmp_path, "d")))
    assert all(torch.equal(a[k], resumed[k]) for k in a)


def test_resume_refuses_another_recipe(tmp_path):
    train(tiny_config(tmp_path, "run", steps=2))
    with pytest.raises(UserError, match="different recipe"):
        train(tiny_config(tmp_path, "run", steps=2, lr=1e-4))


def test_text_rows_come_from_the_whole_corpus_whatever_was_materialised():
    """Plain-text rows draw from the full State of the Union text, not the prefix a haystack happened to need so far
    (that made a row depend on earlier calls and limited the text to the first ~65K characters)."""
    data = TrainData(0, {"lm": 1.0})
    corpus = load_corpus()
    before = [data.row(3, i, 1024).ids for i in range(8)]
    corpus.ensure_words(len(corpus.word_ends) + 200_000)
    assert [data.row(3, i, 1024).ids for i in range(8)] == before
    starts = [corpus.base.find(ByteTokenizer().decode(ids[1:40])) for ids in before]
    assert all(s >= 0 for s in starts) and max(starts) > 1_000_000
