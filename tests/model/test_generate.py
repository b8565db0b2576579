"""Chunked prefill, decode, left padding, sampling, stopping and scoring through the hybrid cache."""

from __future__ import annotations

import pytest
import torch

from jamba_eval.model import load_jamba
from jamba_eval.model.generate import generate, prefill, score


@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    return load_jamba(tiny_checkpoint)


@pytest.fixture(scope="module")
def prompt():
    return torch.randint(1, 97, (2, 53), generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("chunk", [1, 2, 5, 16, 52, 53, 1000])
def test_chunked_prefill_equals_single_pass(model, prompt, chunk):
    with torch.no_grad():
        expected = model(prompt)  # no cache: one causal pass
        cache = model.allocate_cache(2, 60)
        got = prefill(model, prompt, cache, chunk, keep=53)
    assert (got - expected).abs().max().item() <= 1e-4


@pytest.mark.parametrize("chunk", [3, 7, 53])
def test_chunked_prefill_then_decode_equals_single_pass(model, prompt, chunk):
    """Prefill the first 40 tokens in chunks, then decode the other 13 one by one: logits of a single pass."""
    with torch.no_grad():
        expected = model(prompt)[:, 39:]
        cache = model.allocate_cache(2, 53)
        first = prefill(model, prompt[:, :40], cache, chunk, keep=1)
        steps = [model(prompt[:, t : t + 1], cache) for t in range(40, 53)]
    got = torch.cat([first, *steps], dim=1)
    assert (got - expected).abs().max().item() <= 1e-4
    assert cache.length == 53


def test_logits_to_keep_is_exact_and_reports_shape(model, prompt):
    with torch.no_grad():
        full = model(prompt)
        assert (model(prompt, logits_to_keep=5) - full[:, -5:]).abs().max().item() <= 1e-5
        assert model(prompt, logits_to_keep=0).shape == (2, 0, 97)


def test_left_padding_changes_nothing(model):
    g = torch.Generator().manual_seed(8)
    prompts = [torch.randint(1, 97, (n,), generator=g).tolist() for n in (1, 6, 19, 40)]
    alone = [generate(model, [p], 16)[0] for p in prompts]
    batched = generate(model, prompts, 16, prefill_chunk_size=7, pad_token_id=5)
    assert [o.tokens for o in batched] == [o.tokens for o in alone]
    with torch.no_grad():  # and the logits themselves, not only the argmax
        for p in prompts:
            ids = torch.tensor([p])
            cache = model.allocate_cache(4, 45, pad=[45 - len(q) for q in prompts])
            padded = torch.zeros(4, 45, dtype=torch.long)
            for row, q in enumerate(prompts):
                padded[row, 45 - len(q) :] = torch.tensor(q)
            batch_logits = model(padded, cache)[prompts.index(p), 45 - len(p) :]
            assert (batch_logits - model(ids)[0]).abs().max().item() <= 1e-4


def test_stop_conditions(model, prompt):
    p = prompt[0].tolist()
    [free] = generate(model, [p], 12)
    assert free.finish_reason == "length" and len(free.tokens) == 12
    [eos] = generate(model, [p], 12, eos_token_ids=[free.tokens[4]])
    assert eos.finish_reason == "eos" and eos.tokens == free.tokens[: free.tokens.index(free.tokens[4])]
    [stopped] = generate(model, [p], 12, stop_check=lambda row, new: len(new) == 3)
    assert stopped.finish_reason == "stop" and stopped.tokens == free.tokens[:3]
    assert free.time_to_first_token_s <= free.total_time_s
    assert generate(model, [p], 0)[0].tokens == []


def test_sampling_is_seeded_and_independent_of_the_batch(model):
    g = torch.Generator().manual_seed(9)
    prompts = [torch.randint(1, 97, (n,), generator=g).tolist() for n in (4, 11, 30)]
    kwargs = dict(temperature=1.0, top_p=0.9, seed=123)
    first = generate(model, prompts, 20, **kwargs)
    again = generate(model, prompts[::-1], 20, **kwargs)[::-1]
    alone = [generate(model, [p], 20, **kwargs)[0] for p in prompts]
    assert [o.tokens for o in first] == [o.tokens for o in again] == [o.tokens for o in alone]
    other = generate(model, prompts, 20, temperature=1.0, top_p=0.9, seed=124)
    assert [o.tokens for o in other] != [o.tokens for o in first]
    greedy = generate(model, prompts, 20)
    assert [o.tokens for o in generate(model, prompts, 20, temperature=1e-4, seed=1)] == [o.tokens for o in greedy]


def test_vocab_limit_masks_ids(model, prompt):
    outputs = generate(model, [prompt[0].tolist()], 30, temperature=2.0, seed=0, vocab_limit=10)
    assert all(t < 10 for t in outputs[0].tokens)


def test_score_matches_full_forward_log_softmax(model):
    g = torch.Generator().manual_seed(10)
    requests = [
        (torch.randint(1, 97, (n,), generator=g).tolist(), torch.randint(1, 97, (m,), generator=g).tolist())
        for n, m in ((1, 1), (9, 4), (30, 12), (3, 20))
    ]
    got = score(model, requests, prefill_chunk_size=4, batch_size=3)
    with torch.no_grad():
        for (context, continuation), (logprob, greedy) in zip(requests, got, strict=True):
            ids = torch.tensor([context + continuation])
            logp = torch.log_softmax(model(ids)[0, :-1].float(), dim=-1)[len(context) - 1 :]
            targets = torch.tensor(continuation)
            expected = logp.gather(-1, targets[:, None]).sum().item()
            assert logprob == pytest.approx(expected, abs=1e-3)
            assert greedy == bool((logp.argmax(-1) == targets).all())
    # a continuation equal to the greedy choice is reported as greedy
    context = requests[2][0]
    [out] = generate(model, [context], 5)
    assert score(model, [(context, out.tokens)])[0][1] is True


def test_bad_requests_are_refused(model):
    with pytest.raises(ValueError, match="at least one token"):
        generate(model, [[]], 4)
    with pytest.raises(ValueError, match="context"):
        score(model, [([], [1])])
    with pytest.raises(ValueError, match="cache holds"):
        cache = model.allocate_cache(1, 4)
        model(torch.ones(1, 5, dtype=torch.long), cache)
