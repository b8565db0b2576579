"""JambaConfig: reading every published config form, layout, parameter counts and memory arithmetic."""

from __future__ import annotations

import json

import pytest
import torch

from jamba_eval.errors import ConfigError
from jamba_eval.model import HybridCache, JambaConfig
from jamba_eval.model.presets import preset_config

# ai21labs/Jamba-v0.1 config.json after the May-2024 "Move to in-library checkpoint" commit.
V01_HUB = {
    "architectures": ["JambaForCausalLM"], "attention_dropout": 0.0, "attn_layer_offset": 4, "attn_layer_period": 8,
    "bos_token_id": 1, "eos_token_id": 2, "expert_layer_offset": 1, "expert_layer_period": 2, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336, "mamba_conv_bias": True,
    "mamba_d_conv": 4, "mamba_d_state": 16, "mamba_dt_rank": 256, "mamba_expand": 2, "mamba_proj_bias": False,
    "max_position_embeddings": 262144, "model_type": "jamba", "num_attention_heads": 32, "num_experts": 16,
    "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8, "num_logits_to_keep": 1,
    "output_router_logits": False, "pad_token_id": 0, "rms_norm_eps": 1e-06, "router_aux_loss_coef": 0.001,
    "sliding_window": None, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.40.1", "use_cache": True, "use_mamba_kernels": True, "vocab_size": 65536,
    "auto_map": {"AutoConfig": "configuration_jamba.JambaConfig"},
}  # fmt: skip


def test_reads_hub_v01_and_the_older_remote_code_form(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(V01_HUB))
    config = JambaConfig.from_json(tmp_path)
    assert config.layout().split()[:8] == ["M", "M*", "M", "M*", "A", "M*", "M", "M*"]
    assert (config.num_attention_layers, config.num_mamba_layers, config.num_moe_layers) == (4, 28, 16)
    assert (config.head_dim, config.d_inner, config.torch_dtype) == (128, 8192, "bfloat16")
    old = {k: v for k, v in V01_HUB.items() if k not in ("max_position_embeddings", "num_logits_to_keep")}
    old.update(n_ctx=262144, mamba_inner_layernorms=True, calc_logits_for_entire_prompt=False, mamba_dt_rank="auto")
    old.pop("torch_dtype")
    old["dtype"] = "bfloat16"  # transformers 5 writes "dtype"
    assert JambaConfig.from_dict(old) == config
    assert JambaConfig.from_dict(config.to_dict()) == config


def test_transformers_written_config_round_trips(tiny_checkpoint):
    import transformers

    ours = JambaConfig.from_json(tiny_checkpoint / "config.json")
    theirs = transformers.JambaConfig.from_pretrained(tiny_checkpoint)
    assert ours.layer_types == theirs.layers_block_type
    assert [ours.num_experts if ours.is_moe(i) else 1 for i in range(6)] == theirs.layers_num_experts


@pytest.mark.parametrize(
    "change, message",
    [
        ({"attn_layer_offset": 8}, "attn_layer_offset must be < attn_layer_period"),
        ({"expert_layer_offset": 2}, "expert_layer_offset must be < expert_layer_period"),
        ({"num_key_value_heads": 5}, "num_attention_heads % num_key_value_heads"),
        ({"hidden_act": "gelu"}, "hidden_act"),
        ({"sliding_window": 4096}, "sliding_window"),
        ({"model_type": "mixtral"}, "not 'jamba'"),
        ({"num_experts_per_tok": 17}, "top-k"),
    ],
)
def test_invalid_configs_are_refused(change, message):
    with pytest.raises(ConfigError, match=message):
        JambaConfig.from_dict({**V01_HUB, **change})


def test_bad_json_is_a_user_error(tmp_path):
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        JambaConfig.from_json(tmp_path / "config.json")


def test_parameter_counts_match_the_papers():
    """Jamba: 52B total / 12B active; Jamba-1.5-Large: 398B / 94B (Jamba-1.5 paper, Table 1)."""
    mini = preset_config("jamba-1.5-mini")
    assert mini.num_parameters() == pytest.approx(51.6e9, rel=2e-3)
    assert mini.num_parameters(active=True) == pytest.approx(12.1e9, rel=2e-3)
    large = preset_config("jamba-1.5-large")
    assert large.num_parameters() == pytest.approx(398.6e9, rel=2e-3)
    assert large.num_parameters(active=True) == pytest.approx(94.1e9, rel=2e-3)


def test_parameter_count_equals_the_built_model(hf_jamba):
    from jamba_eval.model import load_jamba

    for overrides in ({}, {"tie_word_embeddings": True, "mamba_proj_bias": True, "num_experts": 1}):
        reference, directory = hf_jamba(**overrides)
        model = load_jamba(directory)
        assert model.config.num_parameters() == model.num_parameters() == reference.num_parameters()


def test_kv_cache_sizes_of_the_papers():
    """KV cache at 256K tokens in bf16: 4 GiB for Jamba (paper Table 1), 9 GiB for Jamba-1.5-Large."""
    mini, large = preset_config("jamba-1.5-mini"), preset_config("jamba-1.5-large")
    assert mini.kv_bytes_per_token("bfloat16") * 262144 == 4 * 2**30
    assert large.kv_bytes_per_token("bfloat16") * 262144 == 9 * 2**30
    mamba = 28 * 8192 * (3 * 2 + 16 * 4)  # conv state in bf16, SSM state in fp32
    assert mini.cache_bytes(1, 262144, "bfloat16") == 4 * 2**30 + mamba


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", ["jamba-tiny", "jamba-v0.1"])
def test_cache_bytes_equals_an_allocated_cache(name, dtype):
    config = preset_config(name)
    if name == "jamba-v0.1":  # same layout, small enough to allocate
        config.hidden_size, config.num_attention_heads, config.num_key_value_heads = 64, 4, 2
        config.head_dim = 16
    cache = HybridCache(config, batch_size=3, max_length=1000, dtype=dtype)
    assert cache.nbytes() == config.cache_bytes(3, 1000, dtype)
    assert config.cache_bytes(3, 1000, str(dtype)) == cache.nbytes()
