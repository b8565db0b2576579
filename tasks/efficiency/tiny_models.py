"""Tiny random-weight Jamba / Mixtral / Llama checkpoints of equal width and depth, for CPU benchmarks and tests.

Scaled from Jamba-v0.1 / Mixtral-8x7B / Llama shapes: hidden 4096 -> 64, intermediate 14336 -> 224 (the same 3.5x),
32 layers kept, 32 heads / 8 KV heads -> 4 heads / 4 KV heads (multi-head, so the KV cache is large enough to measure
on CPU), vocabulary 65536/32000 -> 1024 (the test BPE). Jamba keeps its layout (attention at layer 4 of every 8, MoE
every other layer, 16 experts top-2, Mamba expand 2, d_state 16, d_conv 4); Mixtral keeps 8 experts top-2.
Checkpoints are written by transformers' `save_pretrained` (safetensors), with a tokenizer copied beside each.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from jamba_eval.registry import require

COMMON: dict[str, Any] = dict(
    vocab_size=1024,
    hidden_size=64,
    intermediate_size=224,
    num_hidden_layers=32,
    num_attention_heads=4,
    num_key_value_heads=4,
    max_position_embeddings=65536,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
)
JAMBA: dict[str, Any] = dict(
    attn_layer_period=8,
    attn_layer_offset=4,
    expert_layer_period=2,
    expert_layer_offset=1,
    num_experts=16,
    num_experts_per_tok=2,
    mamba_expand=2,
    mamba_d_state=16,
    mamba_d_conv=4,
)
NAMES = ("jamba", "mixtral", "llama")


def build_tiny_models(out: str | Path, tokenizer_dir: str | Path, seed: int = 0, **overrides: Any) -> dict[str, Path]:
    """Save the three checkpoints under `out/<name>`; `overrides` change the shared shape (e.g. hidden_size)."""
    transformers = require("transformers", "hf", "building tiny comparison models")
    import torch

    common = {**COMMON, **overrides}
    configs = {
        "jamba": transformers.JambaConfig(**common, **JAMBA),
        "mixtral": transformers.MixtralConfig(**common, num_local_experts=8, num_experts_per_tok=2),
        "llama": transformers.LlamaConfig(**common),
    }
    paths = {}
    for name, config in configs.items():
        torch.manual_seed(seed)
        model = transformers.AutoModelForCausalLM.from_config(config)
        path = Path(out) / name
        model.save_pretrained(path)
        for file in Path(tokenizer_dir).iterdir():
            shutil.copy(file, path / file.name)
        paths[name] = path
    return paths
