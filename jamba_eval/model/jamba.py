"""Jamba assembled (arXiv 2403.19887 §2, Figure 1; Jamba-1.5: arXiv 2408.12570): a stack of pre-norm residual layers

    h = h + mixer(RMSNorm(h))          mixer: attention (1 layer in attn_layer_period) or Mamba (the rest)
    h = h + ffn(RMSNorm(h))            ffn: MoE (1 layer in expert_layer_period) or a dense SwiGLU MLP

between a token embedding and an untied LM head, with no positional encoding anywhere. Module and parameter names
follow the published checkpoints (`model.layers.{i}.mamba.in_proj.weight`, `...feed_forward.experts.{e}.gate_proj
.weight`, ...), so loading is a key-by-key copy.

Glossary: b batch, T tokens in this call, H hidden size, V vocabulary, Tk positions whose logits are kept.

`forward(input_ids, cache=None, logits_to_keep=None)`: without a cache, one causal pass from an empty state (what
training differentiates through); with a `HybridCache`, the tokens continue the cached sequence, so a prompt can be
fed in chunks of any size followed by one-token decode steps. `logits_to_keep=n` returns logits for the last n
positions only, and the last layer then computes its output (attention queries, FFN) for those n positions only:
exact, and it turns a long prefill whose last layer is attention from O(L^2) into O(L).
"""

from __future__ import annotations

import torch
from torch import nn

from jamba_eval.model.attention import JambaAttention
from jamba_eval.model.cache import HybridCache, Step
from jamba_eval.model.config import JambaConfig
from jamba_eval.model.layers import MLP, RMSNorm
from jamba_eval.model.mamba import JambaMambaMixer
from jamba_eval.model.moe import SparseMoE


class JambaDecoderLayer(nn.Module):
    def __init__(self, config: JambaConfig, index: int, experts_int8: bool = False):
        super().__init__()
        self.index = index
        self.is_attention = config.is_attention(index)
        self.input_layernorm = RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        if self.is_attention:
            self.self_attn = JambaAttention(config)
        else:
            self.mamba = JambaMambaMixer(config)
        self.pre_ff_layernorm = RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        if config.is_moe(index):
            self.feed_forward: nn.Module = SparseMoE(config, experts_int8=experts_int8)
        else:
            self.feed_forward = MLP(config.hidden_size, config.intermediate_size)

    def forward(self, h: torch.Tensor, cache: HybridCache | None, step: Step, keep: int | None) -> torch.Tensor:
        state = None if cache is None else cache.layers[self.index]
        mixer = self.self_attn if self.is_attention else self.mamba
        mixed = mixer(self.input_layernorm(h), state, step, keep)  # [b, Tk, H]
        h = h if keep is None else h[:, h.shape[1] - keep :]
        h = h + mixed
        return h + self.feed_forward(self.pre_ff_layernorm(h))  # [b, Tk, H]


class JambaModel(nn.Module):
    def __init__(self, config: JambaConfig, experts_int8: bool = False):
        super().__init__()
        pad = config.pad_token_id
        padding_idx = pad if pad is not None and 0 <= pad < config.vocab_size else None  # as transformers: no grad
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=padding_idx)
        self.layers = nn.ModuleList(JambaDecoderLayer(config, i, experts_int8) for i in range(config.num_hidden_layers))
        self.final_layernorm = RMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(self, input_ids: torch.Tensor, cache: HybridCache | None, keep: int | None) -> torch.Tensor:
        step = Step.of(cache, input_ids.shape[1])
        h = self.embed_tokens(input_ids)  # [b, T, H]
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            h = layer(h, cache, step, keep if i == last else None)
        if cache is not None:
            cache.length += input_ids.shape[1]
        return self.final_layernorm(h)  # [b, Tk, H]


class JambaForCausalLM(nn.Module):
    def __init__(self, config: JambaConfig, experts_int8: bool = False):
        super().__init__()
        self.config = config
        self.experts_int8 = experts_int8
        self.model = JambaModel(config, experts_int8)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(
        self, input_ids: torch.Tensor, cache: HybridCache | None = None, *, logits_to_keep: int | None = None
    ) -> torch.Tensor:
        """input_ids [b, T] -> logits [b, Tk, V] (Tk = T, or logits_to_keep)."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [batch, tokens], got shape {tuple(input_ids.shape)}")
        T = input_ids.shape[1]
        if logits_to_keep is not None and not 0 <= logits_to_keep <= T:
            raise ValueError(f"logits_to_keep={logits_to_keep} is outside [0, {T}]")
        keep = None if logits_to_keep == T else logits_to_keep
        return self.lm_head(self.model(input_ids, cache, keep))  # [b, Tk, V]

    @property
    def dtype(self) -> torch.dtype:
        return self.model.embed_tokens.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.model.embed_tokens.weight.device

    def allocate_cache(
        self, batch_size: int, max_length: int, pad: torch.Tensor | list[int] | None = None
    ) -> HybridCache:
        """A cache for `batch_size` rows of up to `max_length` tokens (left padding included), in the model's dtype."""
        return HybridCache(self.config, batch_size, max_length, dtype=self.dtype, device=self.device, pad=pad)

    def num_parameters(self) -> int:
        """Weights held, each counted once (an int8 expert weight counts like the float weight it replaces)."""
        count = sum(p.numel() for p in self.parameters())
        return count + sum(b.numel() for name, b in self.named_buffers() if name.endswith("weight_int8"))

    def weight_bytes(self) -> int:
        """Bytes of all parameters and buffers (int8 weights and their fp32 scales included)."""
        return sum(t.numel() * t.element_size() for t in [*self.parameters(), *self.buffers()])
