"""Jamba's attention layer: grouped-query attention with no positional encoding (Jamba paper §6.5: the Mamba
layers supply position, so neither RoPE nor any other encoding is applied), causal, scale 1/sqrt(head_dim).

Glossary: b batch, T new tokens, Tq queries kept (T, or fewer when only the last outputs are needed),
Tk keys (cache slots 0..start+T), nh query heads, kv KV heads, hd head dim, H hidden size.

Keys and values of every position go to the cache; queries may be limited to the last `keep` positions, which
makes a prefill whose last layer is attention cost O(L) instead of O(L^2) when only the last logits are wanted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jamba_eval.model.cache import AttentionState, Step
from jamba_eval.model.config import JambaConfig

MASK_ELEMENTS = 1 << 24  # boolean mask entries per SDPA call (queries are processed in blocks beyond this)


class JambaAttention(nn.Module):
    def __init__(self, config: JambaConfig):
        super().__init__()
        self.num_heads, self.num_kv_heads, self.head_dim = (
            config.num_attention_heads,
            config.num_key_value_heads,
            config.head_dim,
        )
        H = config.hidden_size
        self.q_proj = nn.Linear(H, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(H, self.num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(H, self.num_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, H, bias=False)

    def forward(self, x: torch.Tensor, state: AttentionState | None, step: Step, keep: int | None) -> torch.Tensor:
        b, T, _ = x.shape
        Tq = T if keep is None else keep
        k = self.k_proj(x).view(b, T, self.num_kv_heads, self.head_dim).transpose(1, 2)  # [b, kv, T, hd]
        v = self.v_proj(x).view(b, T, self.num_kv_heads, self.head_dim).transpose(1, 2)  # [b, kv, T, hd]
        if state is not None:
            state.key[:, :, step.start : step.start + T] = k
            state.value[:, :, step.start : step.start + T] = v
            k, v = state.key[:, :, : step.start + T], state.value[:, :, : step.start + T]  # [b, kv, Tk, hd]
        if Tq == 0:
            return x.new_zeros(b, 0, x.shape[-1])
        q = self.q_proj(x[:, T - Tq :]).view(b, Tq, self.num_heads, self.head_dim).transpose(1, 2)  # [b, nh, Tq, hd]
        out = causal_attention(q, k, v, q_start=step.start + T - Tq, pad=step.pad)  # [b, nh, Tq, hd]
        return self.o_proj(out.transpose(1, 2).reshape(b, Tq, self.num_heads * self.head_dim))  # [b, Tq, H]


def causal_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_start: int, pad: torch.Tensor | None
) -> torch.Tensor:
    """Query i (slot q_start + i) sees keys j <= q_start + i that are not left padding.

    q [b, nh, Tq, hd]; k, v [b, kv, Tk, hd] with Tk = q_start + Tq. A padded query sees only itself, which keeps
    its (unused) output finite. Without padding, the common cases need no mask at all.
    """
    b, _, Tq, _ = q.shape
    Tk = k.shape[2]
    if pad is None and q_start == 0:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    if pad is None and Tq == 1:
        return F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    block = max(1, MASK_ELEMENTS // (b * Tk))
    outputs = []
    for s in range(0, Tq, block):
        e = min(Tq, s + block)
        keys = q_start + e  # later keys are masked for every query of this block
        qpos = torch.arange(q_start + s, q_start + e, device=q.device)[:, None]  # [tq, 1]
        kpos = torch.arange(keys, device=q.device)[None, :]  # [1, keys]
        mask = (kpos <= qpos)[None, None]  # [1, 1, tq, keys]
        if pad is not None:
            real = kpos[None] >= pad[:, None, None]  # [b, 1, keys]
            mask = mask & (real[:, None] | (kpos == qpos)[None, None])  # [b, 1, tq, keys]
        outputs.append(
            F.scaled_dot_product_attention(
                q[:, :, s:e], k[:, :, :keys], v[:, :, :keys], attn_mask=mask, enable_gqa=True
            )
        )
    return torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]
