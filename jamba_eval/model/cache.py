"""The hybrid cache: allocated once per batch and maximum length, never grown.

Attention layers keep K and V for every position; Mamba layers keep a constant-size state: the last d_conv - 1
inputs of the causal convolution and the SSM state h (fp32). This is why a Jamba sequence's memory grows by only
2 * n_attention * kv_heads * head_dim values per token (Jamba paper §2, Table 1).

Glossary: b batch, S max length (cache slots), kv KV heads, hd head dim, E d_inner, K d_conv, N d_state.

Rows are left-padded: `pad[r]` slots at the start of row r hold padding. Mamba layers zero their inputs there, so
the state stays exactly zero until the first real token; attention masks those keys.
"""

from __future__ import annotations

import dataclasses

import torch

from jamba_eval.model.config import JambaConfig


@dataclasses.dataclass
class AttentionState:
    key: torch.Tensor  # [b, kv, S, hd]
    value: torch.Tensor  # [b, kv, S, hd]


@dataclasses.dataclass
class MambaState:
    conv: torch.Tensor  # [b, K-1, E]: the last K-1 conv inputs, oldest first
    ssm: torch.Tensor  # [b, E, N], fp32


class HybridCache:
    """Per-layer state for one batch; `length` slots are filled (padding included)."""

    def __init__(
        self,
        config: JambaConfig,
        batch_size: int,
        max_length: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
        pad: torch.Tensor | list[int] | None = None,
        ssm_dtype: torch.dtype = torch.float32,
    ):
        self.config = config
        self.batch_size = batch_size
        self.max_length = max_length
        self.length = 0
        pad = torch.zeros(batch_size, dtype=torch.long) if pad is None else torch.as_tensor(pad, dtype=torch.long)
        if pad.shape != (batch_size,) or (pad < 0).any() or (pad > max_length).any():
            raise ValueError(f"pad must hold one count in [0, {max_length}] per row, got {pad.tolist()}")
        self.pad = pad.to(device)
        self.has_padding = bool(pad.any())
        kv, hd, E = config.num_key_value_heads, config.head_dim, config.d_inner
        self.layers: list[AttentionState | MambaState] = []
        for layer in range(config.num_hidden_layers):
            if config.is_attention(layer):
                shape = (batch_size, kv, max_length, hd)
                self.layers.append(
                    AttentionState(
                        torch.zeros(shape, dtype=dtype, device=device), torch.zeros(shape, dtype=dtype, device=device)
                    )
                )
            else:
                self.layers.append(
                    MambaState(
                        conv=torch.zeros(batch_size, config.mamba_d_conv - 1, E, dtype=dtype, device=device),
                        ssm=torch.zeros(batch_size, E, config.mamba_d_state, dtype=ssm_dtype, device=device),
                    )
                )

    def nbytes(self) -> int:
        """Bytes held by the cache tensors; equals `config.cache_bytes(batch, max_length, dtype, ssm_dtype)`."""
        total = 0
        for state in self.layers:
            for tensor in dataclasses.astuple(state):
                total += tensor.numel() * tensor.element_size()
        return total

    def padding_mask(self, start: int, length: int) -> torch.Tensor | None:
        """[b, length] bool, True at real tokens of slots start..start+length; None when no row is padded there."""
        if not self.has_padding or start >= int(self.pad.max()):
            return None
        positions = torch.arange(start, start + length, device=self.pad.device)
        return positions[None, :] >= self.pad[:, None]

    def reserve(self, tokens: int) -> int:
        """Check that `tokens` more slots fit; returns the first slot of them."""
        if self.length + tokens > self.max_length:
            raise ValueError(f"cache holds {self.max_length} tokens; {self.length} used, {tokens} more requested")
        return self.length


@dataclasses.dataclass
class Step:
    """Where a forward call's T tokens sit: what the mixers need beyond their own state."""

    start: int  # cache slot of the first token (0 without a cache)
    pad: torch.Tensor | None  # [b] left-padding per row; None when no row is padded
    token_mask: torch.Tensor | None  # [b, T] True at real tokens; None when all T tokens are real

    @classmethod
    def of(cls, cache: HybridCache | None, tokens: int) -> Step:
        if cache is None:
            return cls(0, None, None)
        start = cache.reserve(tokens)
        return cls(start, cache.pad if cache.has_padding else None, cache.padding_mask(start, tokens))
