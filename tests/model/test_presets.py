"""Built-in models: the listing the CLI prints, and jamba-tiny (deterministic, file-free, or packaged weights)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from jamba_eval.model import load_jamba, presets, save_checkpoint
from jamba_eval.model.generate import generate
from jamba_eval.tokenizer import ByteTokenizer


def test_list_models_names_every_preset():
    rows = dict(presets.list_models())
    assert set(rows) == {"jamba-tiny", "jamba-v0.1", "jamba-1.5-mini", "jamba-1.5-large"}
    assert "51.6B" in rows["jamba-v0.1"] and "398.6B" in rows["jamba-1.5-large"]
    assert all(isinstance(d, str) and d for d in rows.values())


def splitmix64_reference(seed: int, name: str, index: int) -> float:
    """The init's generator in plain Python integers (independent of numpy), for element `index`."""
    mask = (1 << 64) - 1
    key = int.from_bytes(hashlib.sha256(f"{seed}/{name}".encode()).digest()[:8], "little")
    z = ((index + 1) * 0x9E3779B97F4A7C15 + key) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    z ^= z >> 31
    return (z >> 40) * 2.0**-23 - 1.0


def test_init_generator_is_plain_integer_arithmetic():
    values = presets._uniform("model.embed_tokens.weight", 1000, presets.TINY_SEED)
    for index in (0, 1, 517, 999):
        assert float(values[index]) == splitmix64_reference(presets.TINY_SEED, "model.embed_tokens.weight", index)
    assert values.dtype == np.float32 and values.min() >= -1 and values.max() < 1


TOTAL, SQUARES = 7335.2621313901345, 81187.42510664854  # jamba-tiny's random init (d_state 8, attention at 4)


def test_random_init_is_pinned():
    """Any change to the deterministic init of jamba-tiny's architecture (config or init) shows up here."""
    model = presets.init_random(presets.preset_config("jamba-tiny"), used_vocab=presets.BYTE_VOCAB)
    total = sum(p.double().sum().item() for p in model.parameters())
    squares = sum(p.double().square().sum().item() for p in model.parameters())
    assert total == pytest.approx(TOTAL, rel=1e-12)
    assert squares == pytest.approx(SQUARES, rel=1e-12)
    again = presets.init_random(presets.preset_config("jamba-tiny"), used_vocab=presets.BYTE_VOCAB)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))


def test_jamba_tiny_ships_trained_weights_not_the_random_init():
    """`jamba-tiny` loads the weights trained by `jamba-eval train-demo` (jamba_eval/assets/jamba-tiny)."""
    from safetensors.torch import load_file

    folder = presets.packaged_weights("jamba-tiny")
    assert folder is not None and (folder / "MODEL_CARD.md").is_file()
    assert (folder / "model.safetensors").stat().st_size <= 20 * 2**20
    shipped = load_file(str(folder / "model.safetensors"))
    model = load_jamba("jamba-tiny")
    assert model.config.to_dict() | {"torch_dtype": None} == presets.preset_config("jamba-tiny").to_dict() | {
        "torch_dtype": None
    }
    assert all(torch.equal(model.state_dict()[key], value) for key, value in shipped.items())
    random = presets.init_random(presets.preset_config("jamba-tiny"), used_vocab=presets.BYTE_VOCAB)
    differs = [not torch.equal(model.state_dict()[k], v) for k, v in random.state_dict().items()]
    assert sum(differs) > 0.9 * len(differs)


def test_jamba_tiny_covers_the_byte_tokenizer_and_any_length():
    model = load_jamba("jamba-tiny")
    config = model.config
    assert config.vocab_size >= ByteTokenizer().vocab_size and config.vocab_size % 64 == 0
    assert config.hidden_size >= 64 and config.mamba_d_state == 8
    assert config.layer_types.count("attention") == 1 and config.layer_types[4] == "attention"  # as Jamba; see presets
    tokenizer = ByteTokenizer()
    ids = tokenizer.encode("The grass is green. " * 3 + "What color is the grass?", add_special_tokens=True)
    [out] = generate(model, [ids], 8, eos_token_ids=[tokenizer.eos_token_id], vocab_limit=tokenizer.vocab_size)
    tokenizer.decode(out.tokens)  # every id is a byte-tokenizer id
    with torch.no_grad():
        assert model(torch.randint(0, 263, (1, 3000)), logits_to_keep=1).shape == (1, 1, 320)


def test_jamba_tiny_chunked_prefill_matches_a_single_pass():
    """The attention-last layout with only the last logits kept (keep=0 for every chunk but the last)."""
    from jamba_eval.model.generate import prefill

    model = load_jamba("jamba-tiny")
    ids = torch.randint(0, 263, (2, 300), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(ids)[:, -3:]
        cache = model.allocate_cache(2, 300)
        assert (prefill(model, ids, cache, 64, keep=3) - expected).abs().max().item() <= 1e-4


def test_jamba_tiny_dtypes_and_int8():
    # a prompt like those it was trained on: on random bytes the trained model's bf16 logits drift ~16% (measured)
    text = "One of the special magic numbers for torpid-register is: 4056500.\nThe grass is green. " * 2
    text += "What is the special magic number for torpid-register mentioned in the provided text?"
    ids = torch.tensor([ByteTokenizer().encode(text, add_special_tokens=True)])
    with torch.no_grad():
        exact = load_jamba("jamba-tiny")(ids)
        bf16 = load_jamba("jamba-tiny", dtype="bfloat16")(ids).float()
        int8 = load_jamba("jamba-tiny", experts_int8=True)(ids)
    scale = exact.abs().max().item()
    assert (bf16 - exact).abs().max().item() <= 0.1 * scale
    assert (int8 - exact).abs().max().item() <= 0.05 * scale


@pytest.mark.parametrize("with_config", [True, False])
def test_packaged_weights_replace_the_random_init(tmp_path, monkeypatch, with_config):
    trained = load_jamba("jamba-tiny")
    with torch.no_grad():
        trained.model.final_layernorm.weight.mul_(0.5)
    folder = save_checkpoint(trained, tmp_path / "jamba-tiny")
    if not with_config:
        (folder / "config.json").unlink()
    monkeypatch.setattr(presets, "packaged_weights", lambda name: folder if name == "jamba-tiny" else None)
    loaded = load_jamba("jamba-tiny")
    assert torch.equal(loaded.model.final_layernorm.weight, trained.model.final_layernorm.weight)


def test_no_weights_are_shipped_yet_for_the_big_presets():
    assert presets.packaged_weights("jamba-v0.1") is None
