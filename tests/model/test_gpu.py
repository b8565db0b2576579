"""CUDA (opt-in: --rungpu): the same model on a GPU, with mamba_ssm's scan when it is installed."""

from __future__ import annotations

import pytest
import torch

from jamba_eval.model import load_jamba
from jamba_eval.model.generate import generate, prefill


@pytest.mark.gpu
def test_cuda_matches_cpu(tiny_checkpoint):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    cpu, gpu = load_jamba(tiny_checkpoint), load_jamba(tiny_checkpoint, device="cuda")
    ids = torch.randint(0, 97, (2, 300), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = cpu(ids)
        cache = gpu.allocate_cache(2, 300)
        chunked = prefill(gpu, ids, cache, 64, keep=300).cpu()  # continuation chunks carry the SSM state
    assert (chunked - expected).abs().max().item() <= 1e-3
    prompts = [ids[0, :40].tolist(), ids[1, :7].tolist()]
    assert [o.tokens for o in generate(gpu, prompts, 16)] == [o.tokens for o in generate(cpu, prompts, 16)]
