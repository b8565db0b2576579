"""The fast selective scans against the sequential reference (fp32, relative error <= 1e-5), including extreme
Δ·A where the log-space cumsum trick overflows, every block/chunk split, autograd, and the decode step."""

from __future__ import annotations

import pytest
import torch

from jamba_eval.model.scan import (
    add_initial_state,
    selective_scan,
    selective_scan_chunked,
    selective_scan_per_token,
    selective_scan_reference,
    selective_scan_step,
)


def inputs(b=2, L=97, D=24, N=16, delta_scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(b, L, D, generator=g)
    delta = torch.nn.functional.softplus(torch.randn(b, L, D, generator=g) - 1) * delta_scale
    A = -torch.exp(torch.rand(D, N, generator=g) * 4)  # A in [-55, -1]
    B, C = torch.randn(b, L, N, generator=g), torch.randn(b, L, N, generator=g)
    h0 = torch.randn(b, D, N, generator=g)
    return u, delta, A, B, C, h0


def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return ((got - expected).abs().max() / expected.abs().max().clamp_min(1e-30)).item()


@pytest.mark.parametrize("delta_scale", [1e-3, 1.0, 100.0])  # 100: Δ·A down to -5000 per token
@pytest.mark.parametrize("plan", [None, (1, 1), (4, 3), (7, 5), (16, 64), (64, 1)])
@pytest.mark.parametrize("with_h0", [False, True])
def test_chunked_matches_reference(delta_scale, plan, with_h0):
    u, delta, A, B, C, h0 = inputs(delta_scale=delta_scale)
    h0 = h0 if with_h0 else None
    expected_y, expected_h = selective_scan_reference(u, delta, A, B, C, h0)
    kwargs = {} if plan is None else dict(chunk_tokens=plan[0], chunks=plan[1])
    with torch.no_grad():
        y, h = selective_scan_chunked(u, delta, A, B, C, h0, **kwargs)
    assert torch.isfinite(y).all() and torch.isfinite(h).all()
    assert relative_error(y, expected_y) <= 1e-5
    assert relative_error(h, expected_h) <= 1e-5


def test_log_space_cumsum_would_overflow_here():
    """Why the chunked scan only multiplies decays: exp(-cumsum(Δ·A)) of one 32-token chunk is inf in fp32."""
    _, delta, A, *_ = inputs(delta_scale=1.0)
    log_decay = (delta[:, :32, :, None] * A).cumsum(dim=1)  # [b, 32, D, N]
    assert torch.isinf(torch.exp(-log_decay)).any()


@pytest.mark.parametrize("length", [1, 2, 15, 16, 17, 300])
def test_chunked_any_length(length):
    u, delta, A, B, C, h0 = inputs(L=length, D=8, seed=length)
    expected = selective_scan_reference(u, delta, A, B, C, h0)
    with torch.no_grad():
        got = selective_scan_chunked(u, delta, A, B, C, h0)
    for g, e in zip(got, expected, strict=True):
        assert relative_error(g, e) <= 1e-5


def test_chunked_gradients_match_reference():
    """Training differentiates through the scan; the autograd path gives the reference's gradients."""
    u, delta, A, B, C, h0 = inputs(L=45, D=8, N=4)
    grads = []
    for scan in (selective_scan_reference, lambda *a: selective_scan_chunked(*a, chunk_tokens=4, chunks=3)):
        leaves = [t.clone().requires_grad_() for t in (u, delta, A, B, C, h0)]
        y, h = scan(*leaves)
        (y.square().mean() + h.sum()).backward()
        grads.append([leaf.grad for leaf in leaves])
    for got, expected in zip(grads[1], grads[0], strict=True):
        assert relative_error(got, expected) <= 1e-4


def test_step_matches_reference():
    u, delta, A, B, C, h0 = inputs(L=5)
    expected_y, expected_h = selective_scan_reference(u, delta, A, B, C, h0)
    h = h0.clone()
    ys = [selective_scan_step(u[:, t], delta[:, t], A, B[:, t], C[:, t], h) for t in range(5)]
    assert relative_error(torch.stack(ys, dim=1), expected_y) <= 1e-6
    assert relative_error(h, expected_h) <= 1e-6


def test_initial_state_correction_used_with_cuda_kernels():
    """The CUDA kernel starts from zero; adding exp(A·cumsum Δ)·h0 afterwards must equal starting from h0."""
    u, delta, A, B, C, h0 = inputs(L=300, delta_scale=3.0)
    expected_y, expected_h = selective_scan_reference(u, delta, A, B, C, h0)
    y0, h_zero = selective_scan_reference(u, delta, A, B, C, None)
    y, h = add_initial_state(y0, h_zero, delta, A, C, h0)
    assert relative_error(y, expected_y) <= 1e-5
    assert relative_error(h, expected_h) <= 1e-5


@pytest.mark.parametrize("delta_scale", [1e-3, 1.0, 100.0])
def test_per_token_matches_reference(delta_scale):
    u, delta, A, B, C, h0 = inputs(delta_scale=delta_scale)
    expected = selective_scan_reference(u, delta, A, B, C, h0)
    got = selective_scan_per_token(u, delta, A, B, C, h0)
    for g, e in zip(got, expected, strict=True):
        assert relative_error(g, e) <= 1e-5


@pytest.mark.parametrize("channels, expected", [(33, selective_scan_chunked), (1 << 14, selective_scan_per_token)])
def test_dispatch_on_cpu_by_state_size(channels, expected):
    u, delta, A, B, C, h0 = inputs(b=1, L=5, D=channels)
    with torch.no_grad():
        for got, want in zip(selective_scan(u, delta, A, B, C, h0), expected(u, delta, A, B, C, h0), strict=True):
            assert torch.equal(got, want)
