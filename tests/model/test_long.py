"""Long sequences (opt-in: --runslow): chunked prefill stays exact far beyond the unit-test lengths."""

from __future__ import annotations

import pytest
import torch

from jamba_eval.model import load_jamba
from jamba_eval.model.generate import generate, prefill


@pytest.mark.slow
def test_long_prefill_chunk_sizes_agree_with_a_single_pass():
    model = load_jamba("jamba-tiny")
    ids = torch.randint(0, 263, (1, 20_000), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(ids, logits_to_keep=64)
        for chunk in (4096, 999):
            cache = model.allocate_cache(1, ids.shape[1])
            got = prefill(model, ids, cache, chunk, keep=64)
            assert (got - expected).abs().max().item() <= 1e-3


@pytest.mark.slow
def test_long_left_padded_batch():
    model = load_jamba("jamba-tiny")
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(0, 256, (n,), generator=g).tolist() for n in (9000, 3000)]
    batched = generate(model, prompts, 8, prefill_chunk_size=2048)
    alone = [generate(model, [p], 8)[0] for p in prompts]
    assert [o.tokens for o in batched] == [o.tokens for o in alone]
