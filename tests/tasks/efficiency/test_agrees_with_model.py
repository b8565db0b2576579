"""The memory calculator and our Jamba count the same bytes: one arithmetic, two implementations, held together.

`jamba_eval.model` sizes the cache it allocates (`JambaConfig.cache_bytes`, itself tested against
`HybridCache.nbytes()`); the calculator sizes caches for any architecture. For every Jamba preset they must agree:
KV bytes, Mamba state (conv d_conv - 1 columns, fp32 SSM state as our cache keeps it) and parameter counts.
"""

from __future__ import annotations

import dataclasses

import pytest

from jamba_eval.model.presets import PRESETS, preset_config
from jamba_eval.tasks.efficiency.memory import kv_cache_bytes, mamba_state_bytes, num_parameters
from jamba_eval.tasks.efficiency.presets import preset_config as calculator_preset


def wide_heads():
    """More query heads than hidden / head_dim (the pure-attention model of the issue-11 ablation)."""
    return dataclasses.replace(
        preset_config("jamba-tiny"), attn_layer_period=1, attn_layer_offset=0, num_attention_heads=6, head_dim=32
    )


CONFIGS = {name: lambda name=name: preset_config(name) for name in sorted(PRESETS)} | {"wide-heads": wide_heads}


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize(("dtype", "short"), [("bfloat16", "bf16"), ("float32", "fp32")])
def test_cache_bytes_agree(name, dtype, short):
    config = CONFIGS[name]()
    hf = config.to_dict()
    batch, length = 3, 262144
    calculator = kv_cache_bytes(hf, length, batch, short) + mamba_state_bytes(hf, batch, short, ssm_dtype="fp32")
    assert calculator == config.cache_bytes(batch, length, dtype, ssm_dtype="float32")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_parameter_counts_agree(name):
    config = CONFIGS[name]()
    for active in (False, True):
        assert num_parameters(config.to_dict(), active=active) == config.num_parameters(active=active)


@pytest.mark.parametrize("name", ["jamba-v0.1", "jamba-1.5-mini", "jamba-1.5-large"])
def test_published_presets_are_the_same_architecture(name):
    ours = preset_config(name).to_dict()
    theirs = calculator_preset(name)
    shared = set(ours) & set(theirs) - {"eos_token_id", "bos_token_id", "pad_token_id", "max_position_embeddings"}
    assert {k: ours[k] for k in shared} == {k: theirs[k] for k in shared}
    assert len(shared) >= 18
