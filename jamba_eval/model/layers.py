"""Small building blocks shared by the Jamba layers: RMSNorm and the SwiGLU feed-forward (dense MLP / one expert).

Glossary: H hidden size, I intermediate (feed-forward) size, ... any leading dimensions (batch, time).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    """Llama-style RMSNorm: normalise in fp32, cast back to the input dtype, then scale (order matters in bf16)."""

    def __init__(self, size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        if x32.numel() <= 4 * x32.shape[-1]:  # a few rows (decoding): the fused op has less overhead, same bits
            x32 = F.rms_norm(x32, x32.shape[-1:], eps=self.eps)
        else:  # many rows: the plain ops are faster on CPU
            x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)  # [..., size]
        return self.weight * x32.to(x.dtype)


class MLP(nn.Module):
    """SwiGLU feed-forward: down(silu(gate(x)) * up(x)). The dense FFN, and one MoE expert (`linear` may then be
    an int8 layer)."""

    def __init__(self, hidden_size: int, intermediate_size: int, linear: type[nn.Module] = nn.Linear):
        super().__init__()
        self.gate_proj = linear(hidden_size, intermediate_size, bias=False)
        self.up_proj = linear(hidden_size, intermediate_size, bias=False)
        self.down_proj = linear(intermediate_size, hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))  # [..., H]
