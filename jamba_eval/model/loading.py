"""Load and save Jamba weights as safetensors under the published checkpoints' own key names.

A checkpoint is a directory with `config.json` and either `model.safetensors` or shards listed in
`model.safetensors.index.json` (what `save_pretrained` writes; per-expert keys such as
`model.layers.1.feed_forward.experts.0.gate_proj.weight`). Loading is strict: every missing, unexpected or
mis-shaped key is reported by name before any weight is read. Files are memory-mapped and copied tensor by tensor
into a model built without initialisation, casting to the requested dtype, so peak memory is the model plus one
tensor. With `experts_int8`, each expert weight is quantized as it is read. Pickles (`*.bin`, `*.pt`) are never
opened.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from jamba_eval.errors import UserError
from jamba_eval.model.config import JambaConfig
from jamba_eval.model.jamba import JambaForCausalLM
from jamba_eval.model.moe import Int8Linear

logger = logging.getLogger(__name__)

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


class CheckpointError(UserError):
    """A checkpoint directory or file that cannot be loaded as a Jamba model."""


def build_model(
    config: JambaConfig, dtype: torch.dtype = torch.float32, experts_int8: bool = False, device: str = "cpu"
) -> JambaForCausalLM:
    """A model with allocated but uninitialised weights (fill them with `load_weights` or an initialiser)."""
    with torch.device("meta"):
        model = JambaForCausalLM(config, experts_int8=experts_int8)
    model = model.to_empty(device=device)
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if tensor.is_floating_point() and not name.endswith(".scale"):
            tensor.data = tensor.data.to(dtype)
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    return model.eval()


def load_checkpoint(
    directory: str | Path, dtype: torch.dtype = torch.float32, experts_int8: bool = False, device: str = "cpu"
) -> JambaForCausalLM:
    """Build the model described by `directory/config.json` and load its safetensors weights."""
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise CheckpointError(f"{directory} has no config.json")
    config = JambaConfig.from_json(directory / "config.json")
    model = build_model(config, dtype, experts_int8, device)
    load_weights(model, directory)
    logger.info("loaded %s (%s, %.1fM parameters)", directory, dtype, model.num_parameters() / 1e6)
    return model


def checkpoint_files(directory: Path) -> dict[str, Path]:
    """Key -> file holding it, from the shard index or the single file."""
    index = directory / INDEX_FILE
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{index} is not a valid safetensors index ({exc})") from None
        missing = sorted({name for name in weight_map.values() if not (directory / name).is_file()})
        if missing:
            raise CheckpointError(f"{directory}: shard(s) listed in {INDEX_FILE} are missing: {', '.join(missing)}")
        return {key: directory / name for key, name in weight_map.items()}
    single = directory / SINGLE_FILE
    if not single.is_file():
        found = sorted(directory.glob("*.safetensors"))
        if len(found) != 1:
            pickles = sorted(p.name for p in [*directory.glob("*.bin"), *directory.glob("*.pt")])
            hint = (
                f" (found {', '.join(pickles)}: pickled weights are never loaded; convert to safetensors)"
                if pickles
                else ""
            )
            raise CheckpointError(f"{directory} has no {SINGLE_FILE} or {INDEX_FILE}{hint}")
        single = found[0]
    return {key: single for key in _file_shapes(single)}


def _file_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own SafetensorError (or OSError) for truncated/corrupt files
        raise CheckpointError(f"cannot read {path}: {exc} (truncated or corrupt file?)") from None


def weight_targets(model: JambaForCausalLM) -> dict[str, tuple[tuple[int, ...], Callable[[torch.Tensor], None]]]:
    """Checkpoint key -> (expected shape, function that stores a tensor read for that key)."""
    targets = {}
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        if isinstance(module, Int8Linear):
            targets[f"{prefix}weight"] = ((module.out_features, module.in_features), module.load_weight)
            continue
        for name, param in module.named_parameters(recurse=False):
            if id(param) not in seen:  # a tied lm_head shares the embedding
                seen.add(id(param))
                targets[f"{prefix}{name}"] = (tuple(param.shape), _copier(param))
    return targets


def _copier(param: nn.Parameter) -> Callable[[torch.Tensor], None]:
    def copy(tensor: torch.Tensor) -> None:
        with torch.no_grad():
            param.copy_(tensor.to(param.dtype))

    return copy


def _list(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def load_weights(model: JambaForCausalLM, directory: str | Path) -> None:
    """Copy every weight of `directory` into `model`, strictly by key name and shape."""
    from safetensors import safe_open

    directory = Path(directory)
    files = checkpoint_files(directory)
    shapes: dict[str, tuple[int, ...]] = {}
    for path in sorted(set(files.values())):
        in_file = _file_shapes(path)
        listed = [key for key, file in files.items() if file == path]
        absent = [key for key in listed if key not in in_file]
        if absent:
            raise CheckpointError(f"{path.name} lacks key(s) the index lists for it: {_list(absent)}")
        shapes.update({key: in_file[key] for key in listed})
    targets = weight_targets(model)
    optional = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
    missing = sorted(set(targets) - set(shapes))
    unexpected = sorted(set(shapes) - set(targets) - optional)
    wrong = [
        f"{key} (checkpoint {list(shapes[key])}, model {list(targets[key][0])})"
        for key in sorted(set(shapes) & set(targets))
        if shapes[key] != targets[key][0]
    ]
    problems = []
    if missing:
        problems.append(f"missing key(s): {_list(missing)}")
    if unexpected:
        problems.append(f"unexpected key(s): {_list(unexpected)}")
    if wrong:
        problems.append(f"wrong shape(s): {_list(wrong, 4)}")
    if problems:
        raise CheckpointError(f"checkpoint {directory} does not match the Jamba config: " + "; ".join(problems))
    for path in sorted(set(files.values())):
        try:
            with safe_open(str(path), framework="pt") as handle:
                for key in (k for k, f in files.items() if f == path and k in targets):
                    targets[key][1](handle.get_tensor(key))
        except CheckpointError:
            raise
        except Exception as exc:
            raise CheckpointError(f"cannot read weights from {path}: {exc}") from None


def save_checkpoint(model: JambaForCausalLM, directory: str | Path) -> Path:
    """Write config.json + model.safetensors under the published key names (readable by transformers too)."""
    from safetensors.torch import save_file

    if model.experts_int8:
        raise CheckpointError("an ExpertsInt8 model cannot be saved as a float checkpoint; save the float model")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.config.torch_dtype = str(model.dtype).removeprefix("torch.")
    model.config.save(directory / "config.json")
    tensors = {key: param.detach().contiguous() for key, param in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        tensors.pop("lm_head.weight", None)
    save_file(tensors, str(directory / SINGLE_FILE), metadata={"format": "pt"})
    return directory


def load_jamba(
    path_or_name: str | Path,
    dtype: torch.dtype | str = torch.float32,
    experts_int8: bool = False,
    device: str = "cpu",
) -> JambaForCausalLM:
    """A checkpoint directory (config.json + safetensors) or a built-in name (`jamba-tiny`, see presets)."""
    from jamba_eval.model import presets

    if isinstance(dtype, str):
        dtype = _parse_dtype(dtype)
    path = Path(path_or_name)
    if path.is_dir():
        return load_checkpoint(path, dtype, experts_int8, device)
    if presets.is_preset(str(path_or_name)):
        return presets.load_preset(str(path_or_name), dtype, experts_int8, device)
    raise UserError(
        f"model {str(path_or_name)!r} is neither a checkpoint directory nor a built-in model "
        f"({', '.join(presets.PRESETS)})"
    )


def _parse_dtype(name: str) -> torch.dtype:
    dtypes = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    dtypes |= {"float16": torch.float16, "fp16": torch.float16}
    key = name.removeprefix("torch.")
    if key not in dtypes:
        raise UserError(f"dtype {name!r} is not one of {', '.join(dtypes)}")
    return dtypes[key]
