"""The training scan (hand-written backward) against autograd through the reference loop, and its routing."""

from __future__ import annotations

import pytest
import torch

from jamba_eval.model.scan import selective_scan, selective_scan_reference
from jamba_eval.model.scan_grad import selective_scan_trainable


def inputs(b=2, L=29, D=5, N=3, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(b, L, D, generator=g, dtype=dtype),
        torch.rand(b, L, D, generator=g, dtype=dtype) * 0.5,
        -torch.rand(D, N, generator=g, dtype=dtype) * 2,
        torch.randn(b, L, N, generator=g, dtype=dtype),
        torch.randn(b, L, N, generator=g, dtype=dtype),
        torch.randn(b, D, N, generator=g, dtype=dtype),
    ]


@pytest.mark.parametrize("with_h0", [True, False])
def test_gradients_match_autograd_through_the_reference(with_h0):
    base = inputs()
    if not with_h0:
        base[-1] = None
    leaves = [[None if t is None else t.clone().requires_grad_() for t in base] for _ in range(2)]
    weights = torch.randn(2, 29, 5, dtype=torch.float64), torch.randn(2, 5, 3, dtype=torch.float64)
    outputs = []
    for scan, xs in zip((selective_scan_reference, selective_scan_trainable), leaves, strict=True):
        y, h = scan(*xs)
        ((y * weights[0]).sum() + (h * weights[1]).sum()).backward()
        outputs.append((y, h))
    assert torch.allclose(outputs[0][0], outputs[1][0]) and torch.allclose(outputs[0][1], outputs[1][1])
    for ref, got in zip(*leaves, strict=True):
        if ref is not None:
            assert torch.allclose(ref.grad, got.grad, rtol=1e-10, atol=1e-12)


def test_gradcheck():
    xs = [t.clone().requires_grad_() for t in inputs(L=7)]
    assert torch.autograd.gradcheck(selective_scan_trainable, xs)


def test_selective_scan_takes_the_trainable_path_only_with_grad():
    xs = inputs(dtype=torch.float32)
    with torch.no_grad():
        expected, _ = selective_scan(*xs)
    u = xs[0].clone().requires_grad_()
    y, _ = selective_scan(u, *xs[1:])
    assert y.grad_fn is not None and "SelectiveScan" in type(y.grad_fn).__name__
    assert (y.detach() - expected).abs().max().item() < 1e-5
