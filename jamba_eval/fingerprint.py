"""What identifies the weights behind a model spec, so that a run resumed with other weights under the same name
(a retrained checkpoint, a new jamba-tiny after an upgrade) is refused instead of mixing two models' samples.

The fingerprint digests each weight file's name, size and content: the whole file up to `WHOLE_FILE_BYTES`, else
its first, middle and last MiB (the safetensors header and three windows of tensors: any retraining changes them,
and a 100 GB checkpoint is fingerprinted in milliseconds). A server (`openai` runner) or a name that is not a local
folder or a built-in model has no fingerprint (None): the name is all there is to compare.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from jamba_eval.config import ModelConfig

WHOLE_FILE_BYTES = 64 << 20
WINDOW = 1 << 20
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def weights_fingerprint(model: ModelConfig) -> str | None:
    """A short digest of the weights `model` names (see the module docstring), or None when they cannot be seen."""
    if model.runner == "openai":
        return None
    folder = Path(model.model).expanduser()
    if not folder.is_dir():
        from jamba_eval.model.presets import ALIASES, is_preset, packaged_weights

        if not is_preset(model.model):
            return None
        shipped = packaged_weights(ALIASES.get(model.model, model.model))
        if shipped is None:
            return "random-init"  # the built-in seeded init (pinned by tests/model/test_presets.py)
        folder = shipped
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.name}\0{size}\0".encode())
        with path.open("rb") as f:
            if size <= WHOLE_FILE_BYTES:
                digest.update(f.read())
                continue
            for offset in (0, size // 2, size - WINDOW):
                f.seek(offset)
                digest.update(f.read(WINDOW))
    return digest.hexdigest()[:16]
