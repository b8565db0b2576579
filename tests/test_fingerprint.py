"""weights_fingerprint: what a resumed run compares besides the model's name."""

from jamba_eval import fingerprint
from jamba_eval.config import ModelConfig
from jamba_eval.fingerprint import weights_fingerprint


def folder_with(tmp_path, name, content: bytes):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(content)
    return folder


def test_same_weights_same_fingerprint_other_weights_another(tmp_path):
    a = weights_fingerprint(ModelConfig(model=str(folder_with(tmp_path, "a", b"\1" * 1000))))
    b = weights_fingerprint(ModelConfig(model=str(folder_with(tmp_path, "b", b"\1" * 1000))))
    c = weights_fingerprint(ModelConfig(model=str(folder_with(tmp_path, "c", b"\1" * 999 + b"\2"))))
    assert a == b != c and len(a) == 16


def test_large_files_are_sampled_at_start_middle_and_end(tmp_path, monkeypatch):
    monkeypatch.setattr(fingerprint, "WHOLE_FILE_BYTES", 100)
    monkeypatch.setattr(fingerprint, "WINDOW", 10)
    base = bytearray(1000)
    seen = {weights_fingerprint(ModelConfig(model=str(folder_with(tmp_path, "base", bytes(base)))))}
    for i, at in enumerate((3, 505, 995)):  # inside the first, middle and last window
        changed = bytearray(base)
        changed[at] = 1
        seen.add(weights_fingerprint(ModelConfig(model=str(folder_with(tmp_path, f"x{i}", bytes(changed))))))
    assert len(seen) == 4


def test_built_in_servers_and_unknown_names():
    assert len(weights_fingerprint(ModelConfig(model="jamba-tiny"))) == 16  # the shipped weights
    assert weights_fingerprint(ModelConfig(model="jamba-v0.1")) == "random-init"  # config-only preset
    assert weights_fingerprint(ModelConfig(runner="openai", model="jamba-tiny")) is None
    assert weights_fingerprint(ModelConfig(runner="mock", model="x")) is None
