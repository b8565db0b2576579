"""Tiny Jamba / Mixtral / Llama checkpoints of equal width and depth, built with transformers' `save_pretrained`.

Scaled from Jamba-v0.1 / Mixtral-8x7B / Llama shapes: hidden 4096 -> 64, intermediate 14336 -> 224 (the same 3.5x),
32 layers kept, 32 heads / 8 KV heads -> 4 heads / 4 KV heads (multi-head, so the KV cache is large enough to measure
on CPU), vocabulary 65536/32000 -> 1024 (the test BPE). Jamba keeps its layout (attention at layer 4 of every 8, MoE
every other layer, 16 experts top-2, Mamba expand 2, d_state 16, d_conv 4); Mixtral keeps 8 experts top-2.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

COMMON = dict(
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
JAMBA = dict(
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


def build_tiny_models(out: Path, tokenizer_dir: Path, **overrides) -> dict[str, Path]:
    """Save random-weight jamba / mixtral / llama checkpoints (with the test tokenizer) under `out`."""
    import torch
    from transformers import AutoModelForCausalLM, JambaConfig, LlamaConfig, MixtralConfig

    common = {**COMMON, **overrides}
    configs = {
        "jamba": JambaConfig(**common, **JAMBA),
        "mixtral": MixtralConfig(**common, num_local_experts=8, num_experts_per_tok=2),
        "llama": LlamaConfig(**common),
    }
    paths = {}
    for name, config in configs.items():
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config)
        path = out / name
        model.save_pretrained(path)
        for file in tokenizer_dir.iterdir():
            shutil.copy(file, path / file.name)
        paths[name] = path
    return paths


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, bpe_tokenizer_dir) -> dict[str, Path]:
    pytest.importorskip("transformers")
    return build_tiny_models(tmp_path_factory.mktemp("tiny_models"), bpe_tokenizer_dir)


@pytest.fixture
def local_runners(monkeypatch) -> None:
    """Let bench workers import this folder's runners (`fake_runners:ScriptedRunner`, `hf_runner:HFRunner`)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
