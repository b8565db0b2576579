"""Sparse MoE routing and ExpertsInt8 (vLLM numerics): quantization, accuracy and memory."""

from __future__ import annotations

import pytest
import torch

from jamba_eval.model import load_jamba
from jamba_eval.model.config import JambaConfig
from jamba_eval.model.moe import Int8Linear, SparseMoE, quantize_int8
from jamba_eval.model.presets import preset_config


def vllm_quantize_in_place(weight: torch.Tensor) -> torch.Tensor:
    """vLLM's recipe written out as the spec: per-row absmax/127 in the weight's dtype, divide, round, clamp."""
    scales = torch.max(torch.abs(weight), dim=1, keepdim=True)[0] / 127
    weight.div_(scales).round_().clamp_(-127, 127)
    return scales


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_quantization_follows_vllm(dtype):
    weight = (torch.randn(64, 48) * torch.logspace(-3, 1, 64)[:, None]).to(dtype)
    q, scale = quantize_int8(weight)
    expected = weight.clone()
    expected_scale = vllm_quantize_in_place(expected)
    assert q.dtype == torch.int8 and scale.dtype == torch.float32
    assert torch.equal(q.to(dtype), expected)
    assert torch.equal(scale, expected_scale[:, 0].float())
    assert q.abs().max() == 127


def test_all_zero_row_does_not_divide_by_zero():
    weight = torch.randn(4, 8)
    weight[2] = 0
    q, scale = quantize_int8(weight)
    assert scale[2] == 0 and (q[2] == 0).all()
    layer = Int8Linear(8, 4)
    layer.load_weight(weight)
    assert torch.isfinite(layer(torch.randn(3, 8))).all()


def test_int8_linear_scales_after_accumulation():
    weight = torch.randn(16, 32)
    layer = Int8Linear(32, 16)
    layer.load_weight(weight)
    x = torch.randn(5, 32)
    expected = (x @ layer.weight_int8.float().T) * layer.scale  # fp32 accumulate, then per-channel scale
    assert torch.equal(layer(x), expected)
    assert (layer(x) - x @ weight.T).abs().max() <= 0.02 * (x @ weight.T).abs().max()


def test_routing_is_top_k_without_renormalisation():
    config = JambaConfig(
        hidden_size=8,
        intermediate_size=12,
        num_experts=4,
        num_experts_per_tok=2,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    moe = SparseMoE(config)
    torch.nn.init.normal_(moe.router.weight)
    x = torch.randn(3, 5, 8)
    probs = torch.softmax(moe.router(x), dim=-1)
    weights, chosen = probs.topk(2, dim=-1)
    expected = torch.zeros_like(x)
    for i in range(3):
        for j in range(5):
            for k in range(2):
                expected[i, j] += weights[i, j, k] * moe.experts[int(chosen[i, j, k])](x[i, j])
    assert (weights.sum(-1) < 1).all()  # not renormalised
    assert (moe(x) - expected).abs().max() <= 1e-6


def test_int8_logits_close_to_float(hf_jamba):
    """Measured on a checkpoint with realistic init scale: |Δlogits| ~1e-3 of the logit range (bf16: ~1e-2)."""
    _, directory = hf_jamba(seed=2, initializer_range=0.02)
    ids = torch.randint(0, 97, (2, 64), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        exact = load_jamba(directory)(ids)
        int8 = load_jamba(directory, experts_int8=True)(ids)
        bf16 = load_jamba(directory, dtype=torch.bfloat16)(ids).float()
    scale = exact.abs().max().item()
    int8_error, bf16_error = (int8 - exact).abs().max().item(), (bf16 - exact).abs().max().item()
    assert int8_error <= 5e-3 * scale
    assert int8_error <= bf16_error


def test_expert_memory_is_about_halved(hf_jamba):
    _, directory = hf_jamba()
    plain = load_jamba(directory, dtype=torch.bfloat16)
    quantized = load_jamba(directory, dtype=torch.bfloat16, experts_int8=True)

    def expert_bytes(model):
        tensors = [*model.named_parameters(), *model.named_buffers()]
        return sum(t.numel() * t.element_size() for name, t in tensors if ".experts." in name)

    config = plain.config
    rows = config.num_moe_layers * config.num_experts * (2 * config.intermediate_size + config.hidden_size)
    assert expert_bytes(quantized) == expert_bytes(plain) // 2 + 4 * rows  # 1 byte per weight + an fp32 scale per row
    assert quantized.weight_bytes() == config.weight_bytes("bfloat16", experts_int8=True)
    assert plain.weight_bytes() == config.weight_bytes("bfloat16")
    mini = preset_config("jamba-1.5-mini")
    experts_bf16 = mini.expert_parameters() * 2
    saved = mini.weight_bytes("bfloat16") - mini.weight_bytes("bfloat16", experts_int8=True)
    assert saved == pytest.approx(experts_bf16 / 2, rel=2e-3)  # ~45 GB saved on 103 GB
