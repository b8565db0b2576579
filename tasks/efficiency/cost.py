"""First-order cost models behind the analytic throughput curves of `jamba-eval bench`.

Prefill is compute-bound: FLOPs for L prompt tokens ≈ 2 × active non-embedding parameters × L (matmuls) plus
causal attention, 2 × attention layers × heads × head dim × L² (QKᵀ and PV, each L²/2 × 2 FLOPs per head and
channel). Decode is memory-bound: each new token reads the active weights once plus the whole KV cache and Mamba
state. Neither model knows the hardware, so the bench calibrates each curve on the model's shortest measured point
and draws only its shape; on tiny CPU models fixed per-layer overheads make the real curves flatter.
"""

from __future__ import annotations

from typing import Any

from jamba_eval.tasks.efficiency.architecture import as_architecture
from jamba_eval.tasks.efficiency.memory import kv_cache_bytes, mamba_state_bytes


def prefill_flops(config: Any, length: int, batch: int = 1) -> float:
    a = as_architecture(config)
    embeddings = a.vocab_size * a.hidden_size * (1 if a.tie_word_embeddings else 2)
    matmul_params = a.num_parameters(active=True) - embeddings + a.vocab_size * a.hidden_size  # lm_head, not lookup
    attention = 2.0 * a.attention_layers * a.num_heads * a.head_dim * length * length
    return batch * (2.0 * matmul_params * length + attention)


def decode_bytes_per_step(
    config: Any, length: int, batch: int = 1, weight_element_bytes: int = 2, cache_dtype: Any = "bf16"
) -> float:
    """Bytes read to decode one token for each of `batch` sequences at `length` tokens of context."""
    a = as_architecture(config)
    embedding_lookup = 0 if a.tie_word_embeddings else a.vocab_size * a.hidden_size  # one row read, not all
    weights = (a.num_parameters(active=True) - embedding_lookup) * weight_element_bytes
    return weights + kv_cache_bytes(a, length, batch, cache_dtype) + mamba_state_bytes(a, batch, cache_dtype)
