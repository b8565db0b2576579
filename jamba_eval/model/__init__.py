"""Our Jamba implementation (arXiv 2403.19887, 2408.12570): checkpoint-compatible with the published models.

    from jamba_eval.model import load_jamba
    model = load_jamba("jamba-tiny")                 # or a checkpoint directory; dtype=, experts_int8=, device=
    logits = model(input_ids)                        # [batch, tokens, vocab]

Modules: config (hyper-parameters and memory arithmetic), scan (selective scan: reference, chunked, CUDA),
mamba (Mamba mixer), attention (GQA, no positional encoding), moe (sparse MoE, ExpertsInt8), cache (hybrid
cache), jamba (assembly), loading (safetensors by checkpoint key), generate (batched generate and score),
presets (built-in configs and the embedded jamba-tiny).
"""

from jamba_eval.model.cache import HybridCache
from jamba_eval.model.config import JambaConfig
from jamba_eval.model.jamba import JambaForCausalLM
from jamba_eval.model.loading import CheckpointError, load_jamba, save_checkpoint

__all__ = ["CheckpointError", "HybridCache", "JambaConfig", "JambaForCausalLM", "load_jamba", "save_checkpoint"]
