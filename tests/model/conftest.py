"""Fixtures for the model tests: tiny random transformers Jamba checkpoints written with `save_pretrained`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

BASE = dict(
    vocab_size=97,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=6,
    num_attention_heads=4,
    num_key_value_heads=2,
    attn_layer_period=3,
    attn_layer_offset=1,
    expert_layer_period=2,
    expert_layer_offset=0,
    num_experts=4,
    num_experts_per_tok=2,
    mamba_d_state=8,
    mamba_d_conv=4,
    mamba_expand=2,
    initializer_range=0.2,  # well-separated logits, so greedy choices are not near-ties
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=None,
)


def make_hf_jamba(directory: Path, seed: int = 0, **overrides):
    """Save a random transformers JambaForCausalLM (fp32, eval mode) and return it."""
    import transformers

    transformers.logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    config = transformers.JambaConfig(**{**BASE, **overrides})
    torch.manual_seed(seed)
    model = transformers.JambaForCausalLM(config).eval()
    with torch.no_grad():  # the default init leaves D = 1 and norms = 1; perturb them so loading errors show
        for name, param in model.named_parameters():
            if name.endswith(("layernorm.weight", ".D", "dt_proj.bias", "conv1d.bias")):
                param.add_(0.1 * torch.randn_like(param))
    model.save_pretrained(directory)
    return model


@pytest.fixture(scope="session")
def hf_jamba(tmp_path_factory):
    """A factory: hf_jamba(seed=..., **config overrides) -> (transformers model, checkpoint dir), cached."""
    made: dict[str, tuple] = {}

    def build(seed: int = 0, **overrides):
        key = json.dumps([seed, overrides], sort_keys=True)
        if key not in made:
            directory = tmp_path_factory.mktemp("hf_jamba")
            made[key] = (make_hf_jamba(directory, seed, **overrides), directory)
        return made[key]

    return build


@pytest.fixture(scope="session")
def tiny_checkpoint(hf_jamba) -> Path:
    """The default tiny checkpoint directory."""
    return hf_jamba()[1]
