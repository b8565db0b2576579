"""Strict safetensors loading by checkpoint key: every kind of broken checkpoint fails with a message naming the
problem, sharded checkpoints load, and our own checkpoints load back into transformers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from jamba_eval.errors import UserError
from jamba_eval.model import CheckpointError, load_jamba, save_checkpoint
from jamba_eval.model.loading import INDEX_FILE


@pytest.fixture()
def checkpoint(tiny_checkpoint, tmp_path) -> Path:
    """A private copy of the tiny checkpoint to break."""
    return Path(shutil.copytree(tiny_checkpoint, tmp_path / "ckpt"))


def rewrite(directory: Path, change) -> None:
    tensors = load_file(directory / "model.safetensors")
    change(tensors)
    save_file(tensors, directory / "model.safetensors")


def test_per_expert_keys_as_saved_by_transformers(tiny_checkpoint):
    keys = load_file(tiny_checkpoint / "model.safetensors").keys()
    assert "model.layers.0.feed_forward.experts.3.down_proj.weight" in keys  # per-expert, as published
    assert "model.layers.0.mamba.A_log" in keys
    load_jamba(tiny_checkpoint)


def test_missing_key(checkpoint):
    rewrite(checkpoint, lambda t: t.pop("model.layers.2.mamba.dt_proj.bias"))
    with pytest.raises(CheckpointError, match=r"missing key\(s\): model\.layers\.2\.mamba\.dt_proj\.bias"):
        load_jamba(checkpoint)


def test_unexpected_key(checkpoint):
    rewrite(checkpoint, lambda t: t.update({"model.layers.0.mamba.extra": torch.zeros(3)}))
    with pytest.raises(CheckpointError, match=r"unexpected key\(s\): model\.layers\.0\.mamba\.extra"):
        load_jamba(checkpoint)


def test_wrong_shape(checkpoint):
    rewrite(checkpoint, lambda t: t.update({"model.final_layernorm.weight": torch.ones(31)}))
    with pytest.raises(CheckpointError, match=r"model\.final_layernorm\.weight \(checkpoint \[31\], model \[32\]\)"):
        load_jamba(checkpoint)


def test_config_mismatch_lists_many_keys(checkpoint):
    config = json.loads((checkpoint / "config.json").read_text())
    config["num_hidden_layers"] = 7
    (checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"missing key\(s\): model\.layers\.6\..* and \d+ more"):
        load_jamba(checkpoint)


@pytest.mark.parametrize("keep_bytes", [0, 7, 200, -100])
def test_truncated_file(checkpoint, keep_bytes):
    path = checkpoint / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[:keep_bytes] if keep_bytes >= 0 else data[:keep_bytes])
    with pytest.raises(CheckpointError, match=r"cannot read .*model\.safetensors.*truncated or corrupt"):
        load_jamba(checkpoint)


def test_sharded_checkpoint_and_missing_shard(hf_jamba, tmp_path):
    reference, _ = hf_jamba()
    sharded = tmp_path / "sharded"
    reference.save_pretrained(sharded, max_shard_size="20KB")
    index = json.loads((sharded / INDEX_FILE).read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 2
    ids = torch.randint(0, 97, (1, 20))
    with torch.no_grad():
        assert (load_jamba(sharded)(ids) - reference(ids).logits).abs().max().item() <= 1e-4
    (sharded / shards[1]).unlink()
    with pytest.raises(CheckpointError, match=f"shard.*missing: {shards[1]}"):
        load_jamba(sharded)


def test_index_listing_a_key_its_shard_lacks(hf_jamba, tmp_path):
    reference, _ = hf_jamba()
    sharded = tmp_path / "sharded"
    reference.save_pretrained(sharded, max_shard_size="20KB")
    index = json.loads((sharded / INDEX_FILE).read_text())
    key, shard = next(iter(index["weight_map"].items()))
    tensors = load_file(sharded / shard)
    tensors.pop(key)
    save_file(tensors, sharded / shard)
    with pytest.raises(CheckpointError, match=f"{shard} lacks key.*{key}"):
        load_jamba(sharded)


def test_pickles_are_never_loaded(checkpoint):
    (checkpoint / "model.safetensors").rename(checkpoint / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pickled weights are never loaded"):
        load_jamba(checkpoint)


def test_not_a_model(tmp_path):
    with pytest.raises(UserError, match="neither a checkpoint directory nor a built-in model"):
        load_jamba(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="no config.json"):
        load_jamba(tmp_path)
    with pytest.raises(UserError, match="config-only preset"):
        load_jamba("jamba-1.5-mini")


def test_dtype_cast_and_roundtrip_through_our_writer(tiny_checkpoint, tmp_path):
    import transformers

    model = load_jamba(tiny_checkpoint, dtype="bfloat16")
    assert model.dtype == torch.bfloat16
    ours = load_jamba(tiny_checkpoint)
    save_checkpoint(ours, tmp_path / "ours")
    theirs = transformers.JambaForCausalLM.from_pretrained(tmp_path / "ours").eval()
    again = load_jamba(tmp_path / "ours")
    ids = torch.randint(0, 97, (1, 30))
    with torch.no_grad():
        assert torch.equal(again(ids), ours(ids))
        assert (theirs(ids).logits - ours(ids)).abs().max().item() <= 1e-4
