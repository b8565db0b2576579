"""Jamba's Mamba mixer (Jamba paper §2 and §6.4; Mamba-1: Gu & Dao 2023, §3.2 Algorithm 2), with the RMSNorms on
Δ, B and C that Jamba adds for stable large-scale training.

    x, z  = in_proj(h)                    split into the SSM input and the gate
    x     = silu(causal_depthwise_conv(x))
    Δ,B,C = x_proj(x);  Δ, B, C = RMSNorm(Δ), RMSNorm(B), RMSNorm(C)
    Δ     = softplus(dt_proj(Δ))          (bias and softplus in fp32, as the CUDA kernels do)
    y     = scan(x, Δ, A = -exp(A_log), B, C) + D x
    out   = out_proj(y * silu(z))

Glossary: b batch, T tokens in this call, H hidden size, E d_inner (= expand * H), N d_state, R dt_rank,
K d_conv.

With a cache, the conv keeps its last K-1 inputs and the scan its state h, so a prompt may arrive in chunks of any
size (including 1) and give the same result as one pass. Left padding is exact: padded inputs are zeroed before and
after the conv, so h stays zero until the first real token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jamba_eval.model.cache import MambaState, Step
from jamba_eval.model.config import JambaConfig
from jamba_eval.model.layers import RMSNorm
from jamba_eval.model.scan import selective_scan, selective_scan_step


class JambaMambaMixer(nn.Module):
    def __init__(self, config: JambaConfig):
        super().__init__()
        H, E, N, K, R = (
            config.hidden_size,
            config.d_inner,
            config.mamba_d_state,
            config.mamba_d_conv,
            config.mamba_dt_rank,
        )
        self.d_inner, self.d_state, self.dt_rank = E, N, R
        self.in_proj = nn.Linear(H, 2 * E, bias=config.mamba_proj_bias)
        # holds the checkpoint's conv1d.weight [E, 1, K] and bias [E]; applied by `_conv`
        self.conv1d = nn.Conv1d(E, E, kernel_size=K, groups=E, padding=K - 1, bias=config.mamba_conv_bias)
        self.x_proj = nn.Linear(E, R + 2 * N, bias=False)
        self.dt_proj = nn.Linear(R, E, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(E, 1))  # [E, N]
        self.D = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Linear(E, H, bias=config.mamba_proj_bias)
        self.dt_layernorm = RMSNorm(R, eps=config.rms_norm_eps)
        self.b_layernorm = RMSNorm(N, eps=config.rms_norm_eps)
        self.c_layernorm = RMSNorm(N, eps=config.rms_norm_eps)

    def forward(self, h: torch.Tensor, state: MambaState | None, step: Step, keep: int | None) -> torch.Tensor:
        b, T, _ = h.shape
        mask = None if step.token_mask is None else step.token_mask[..., None].to(h.dtype)  # [b, T, 1]
        x, z = self.in_proj(h).chunk(2, dim=-1)  # [b, T, E] each
        if mask is not None:
            x = x * mask
        x = F.silu(self._conv(x, state))  # [b, T, E]
        if mask is not None:
            x = x * mask
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)  # [b, T, R|N|N]
        dt, B, C = self.dt_layernorm(dt), self.b_layernorm(B), self.c_layernorm(C)
        delta = F.softplus(F.linear(dt.float(), self.dt_proj.weight.float(), self.dt_proj.bias.float()))  # [b, T, E]
        A = -torch.exp(self.A_log.float())  # [E, N]
        x32, B32, C32 = x.float(), B.float(), C.float()
        if state is not None and T == 1:
            y = selective_scan_step(x32[:, 0], delta[:, 0], A, B32[:, 0], C32[:, 0], state.ssm)[:, None]  # [b, 1, E]
        else:
            y, last = selective_scan(x32, delta, A, B32, C32, None if state is None else state.ssm)  # [b, T, E]
            if state is not None:
                state.ssm.copy_(last)
        if keep is not None:
            y, x32, z = y[:, T - keep :], x32[:, T - keep :], z[:, T - keep :]
        y = torch.addcmul(y, x32, self.D.float()) * F.silu(z.float())  # [b, Tk, E]
        return self.out_proj(y.to(h.dtype))  # [b, Tk, H]

    def _conv(self, x: torch.Tensor, state: MambaState | None) -> torch.Tensor:
        """Causal depthwise conv over time as K shifted multiply-adds (faster than conv1d for thin channels on
        CPU); with a state, the last K-1 inputs of earlier calls come first."""
        b, T, E = x.shape
        K = self.conv1d.kernel_size[0]
        weight = self.conv1d.weight[:, 0, :]  # [E, K]; tap K-1 meets the current token
        if state is not None and T == 1:  # decoding: one dot product over the window
            window = torch.cat([state.conv.to(x.dtype), x], dim=1)  # [b, K, E]
            state.conv.copy_(window[:, 1:])
            out = (window * weight.T).sum(dim=1, keepdim=True)  # [b, 1, E]
            return out if self.conv1d.bias is None else out + self.conv1d.bias
        previous = x.new_zeros(b, K - 1, E) if state is None else state.conv.to(x.dtype)  # [b, K-1, E]
        full = torch.cat([previous, x], dim=1)  # [b, K-1+T, E]
        if state is not None and K > 1:
            state.conv.copy_(full[:, T:])
        out = (
            full[:, K - 1 :] * weight[:, K - 1]
            if self.conv1d.bias is None
            else torch.addcmul(self.conv1d.bias, full[:, K - 1 :], weight[:, K - 1])
        )  # [b, T, E]
        for k in range(K - 1):
            out = torch.addcmul(out, full[:, k : k + T], weight[:, k])
        return out
