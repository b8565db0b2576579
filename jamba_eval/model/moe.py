"""Jamba's sparse mixture-of-experts feed-forward (Jamba paper §2; top-k routing without renormalisation, as the
reference implementations do) and ExpertsInt8 (vLLM PR #7415; Jamba-1.5 paper §3.1).

Routing: p = softmax(router(x)) in fp32; keep the top-k (k = num_experts_per_tok) probabilities as they are (they
do not sum to 1); out = Σ_k p_k · expert_k(x). Tokens are grouped by expert (one matmul per expert over exactly
the tokens routed to it) instead of running every expert on every token.

ExpertsInt8 (vLLM numerics): at load time each expert weight W [out, in] becomes q = clamp(round(W / s), ±127) as
int8 with one scale s = max|W[row]| / 127 per output row, computed in the checkpoint's own dtype; scales are
kept in fp32. At run time the int8 weight is widened, the product accumulated in fp32, and the scale applied once
after the accumulation. Only MoE experts are quantized (attention, Mamba, router, dense MLPs, embeddings stay).

Glossary: n tokens (batch * time flattened), H hidden, I intermediate, X experts, k experts per token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jamba_eval.model.config import JambaConfig
from jamba_eval.model.layers import MLP

INT8_MAX = 127


def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """W [out, in] -> (q int8 [out, in], scale fp32 [out]), in W's dtype as vLLM does; an all-zero row gets scale 0."""
    scale = weight.abs().amax(dim=1, keepdim=True) / INT8_MAX  # [out, 1]
    q = (weight / torch.where(scale == 0, torch.ones_like(scale), scale)).round().clamp(-INT8_MAX, INT8_MAX)
    return q.to(torch.int8), scale[:, 0].float()


class Int8Linear(nn.Module):
    """A bias-free linear layer holding an int8 weight with per-output-channel fp32 scales."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False):
        super().__init__()
        if bias:
            raise ValueError("Int8Linear has no bias (Jamba's experts have none)")
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight_int8", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("scale", torch.zeros(out_features, dtype=torch.float32))

    @torch.no_grad()
    def load_weight(self, weight: torch.Tensor) -> None:
        """Quantize a float weight [out, in] into this layer."""
        q, scale = quantize_int8(weight)
        self.weight_int8.copy_(q)
        self.scale.copy_(scale)

    def dequantized(self) -> torch.Tensor:
        return self.weight_int8.float() * self.scale[:, None]  # [out, in]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (F.linear(x.float(), self.weight_int8.float()) * self.scale).to(x.dtype)  # [..., out]


class SparseMoE(nn.Module):
    def __init__(self, config: JambaConfig, experts_int8: bool = False):
        super().__init__()
        self.top_k = config.num_experts_per_tok
        self.router = nn.Linear(config.hidden_size, config.num_experts, bias=False)
        self.experts = nn.ModuleList(
            MLP(config.hidden_size, config.intermediate_size, Int8Linear if experts_int8 else nn.Linear)
            for _ in range(config.num_experts)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])  # [n, H]
        probs = F.softmax(self.router(x), dim=-1, dtype=torch.float32)  # [n, X]
        weights, chosen = probs.topk(self.top_k, dim=-1)  # [n, k] each; not renormalised
        weights = weights.to(x.dtype).flatten()  # [n*k]
        if x.shape[0] == 1:  # one token (decoding one sequence): same sums, in expert order, without grouping
            out = torch.zeros_like(x)
            for slot, expert in sorted(enumerate(chosen[0].tolist()), key=lambda pair: pair[1]):
                out += self.experts[expert](x) * weights[slot]
            return out.view(shape)
        chosen = chosen.flatten()  # [n*k]
        order = chosen.argsort(stable=True)  # (token, slot) pairs grouped by expert
        counts = torch.bincount(chosen, minlength=len(self.experts)).tolist()
        out = torch.zeros_like(x)  # [n, H]
        start = 0
        for expert, count in zip(self.experts, counts, strict=True):
            if count:
                pairs = order[start : start + count]  # [m]
                tokens = pairs // self.top_k  # [m]
                out.index_add_(0, tokens, expert(x[tokens]) * weights[pairs, None])
                start += count
        return out.view(shape)
