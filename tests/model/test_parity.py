"""Our Jamba against transformers' JambaForCausalLM (the reference) on tiny random checkpoints: fp32 logits within
1e-4 over whole prompts, and the same 32-token greedy continuation, across layouts, expert counts, top-k, seeds."""

from __future__ import annotations

import pytest
import torch

from jamba_eval.model import load_jamba
from jamba_eval.model.generate import generate

LAYOUTS = {
    "attn-mid-moe-even": dict(attn_layer_period=3, attn_layer_offset=1, expert_layer_period=2, expert_layer_offset=0),
    "attn-first-moe-odd-top1-8x": dict(
        attn_layer_period=4, attn_layer_offset=0, expert_layer_period=2, expert_layer_offset=1, num_experts=8,
        num_experts_per_tok=1,
    ),
    "attn-last-16x-top2-gqa1": dict(
        num_hidden_layers=4, attn_layer_period=4, attn_layer_offset=3, expert_layer_period=1, expert_layer_offset=0,
        num_experts=16, num_key_value_heads=1,
    ),
    "jamba-like-period8": dict(
        num_hidden_layers=8, attn_layer_period=8, attn_layer_offset=4, expert_layer_period=2, expert_layer_offset=1,
        num_experts=6, mamba_d_conv=3, mamba_dt_rank=5,
    ),
    "dense-biases-tied": dict(
        num_experts=1, mamba_conv_bias=False, mamba_proj_bias=True, tie_word_embeddings=True, mamba_expand=1,
    ),
}  # fmt: skip


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("seed", [0, 1])
def test_logits_match_transformers(hf_jamba, layout, seed):
    reference, directory = hf_jamba(seed=seed, **LAYOUTS[layout])
    ours = load_jamba(directory)
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 97, (2, 67 + seed * 30), generator=generator)  # odd lengths
    with torch.no_grad():
        expected = reference(ids).logits
        got = ours(ids)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 1e-4, layout


@pytest.mark.parametrize("layout", ["attn-mid-moe-even", "attn-first-moe-odd-top1-8x", "jamba-like-period8"])
def test_greedy_continuation_matches_transformers(hf_jamba, layout):
    reference, directory = hf_jamba(seed=3, **LAYOUTS[layout])
    ours = load_jamba(directory)
    prompt = torch.randint(2, 97, (1, 23), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = reference.generate(prompt, max_new_tokens=32, min_new_tokens=32, do_sample=False)[0, 23:].tolist()
    [got] = generate(ours, [prompt[0].tolist()], 32, prefill_chunk_size=5)
    assert got.tokens == expected
    assert got.finish_reason == "length"


def test_decode_steps_match_transformers_prefill(hf_jamba):
    """Token-by-token decode through our cache equals transformers' single full forward at every position."""
    reference, directory = hf_jamba(seed=4)
    ours = load_jamba(directory)
    ids = torch.randint(0, 97, (1, 40), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = reference(ids).logits[0]
        cache = ours.allocate_cache(1, 40)
        steps = torch.cat([ours(ids[:, t : t + 1], cache)[0] for t in range(40)])
    assert (steps - expected).abs().max().item() <= 1e-4


def test_bfloat16_as_accurate_as_transformers_bfloat16(hf_jamba):
    """bf16 differs from transformers by design in small ways (softplus and the Δ bias in fp32, as the CUDA kernels
    do), so hold both to the fp32 result: ours must be about as close to it as transformers' own bf16 path."""
    reference, directory = hf_jamba(seed=5, initializer_range=0.05)
    ids = torch.randint(0, 97, (2, 48), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        exact = reference(ids).logits
        theirs = reference.to(torch.bfloat16)(ids).logits.float()
        reference.float()
        ours = load_jamba(directory, dtype=torch.bfloat16)(ids).float()
    their_error, our_error = (theirs - exact).abs().max().item(), (ours - exact).abs().max().item()
    assert our_error <= 1.5 * their_error + 1e-3 * exact.abs().max().item(), (our_error, their_error)


def test_gradients_match_transformers(hf_jamba):
    """Training (a later issue) differentiates through our forward, chunked scan included."""
    reference, directory = hf_jamba(seed=6)
    reference.train()
    ours = load_jamba(directory).train()
    ids = torch.randint(0, 97, (2, 37), generator=torch.Generator().manual_seed(6))
    losses = []
    for model, logits_of in ((reference, lambda m: m(ids).logits), (ours, lambda m: m(ids))):
        logits = logits_of(model)[:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 97), ids[:, 1:].reshape(-1))
        loss.backward()
        losses.append(loss.item())
    reference.eval()
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    theirs = dict(reference.named_parameters())
    checked = 0
    for name, param in ours.named_parameters():
        if name in theirs and ".experts." not in name:
            expected = theirs[name].grad
            assert (param.grad - expected).abs().max().item() <= 1e-4 * max(1.0, expected.abs().max().item()), name
            checked += 1
    assert checked > 50
