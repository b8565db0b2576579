"""The selective scan of Mamba-1 (Gu & Dao 2023, arXiv 2312.00752, §3.2 Algorithm 2), the sequential core of every
Jamba Mamba layer.

For each batch row, channel d and state index n, with the input-dependent step Δ, B, C:

    h_t = exp(Δ_t A) ⊙ h_{t-1} + (Δ_t x_t) B_t          (discretised state update, fp32)
    y_t = <h_t, C_t>                                      (read-out; the D skip and the z gate live in the mixer)

Glossary: b batch, L tokens, D channels (d_inner), N state size (d_state), T tokens per chunk, c chunks scanned
side by side.

Four implementations share one signature `(u, delta, A, B, C, h0) -> (y, h_last)`; `selective_scan` picks one:

- `selective_scan_reference`: a plain loop over tokens; the oracle the tests hold the others to.
- `selective_scan_per_token`: the same loop with in-place fused ops. Fastest when one token's state [b, D, N]
  is already large (>= 2^16 elements, e.g. D >= 4096): it stays in cache while exp(Δ A) is formed on the fly.
- `selective_scan_chunked`: the fast path for smaller states (tiny models, where per-op overhead dominates). A
  block of c*T tokens is cut into c chunks of T tokens; one loop of T steps scans all c chunks at once from a zero
  state (each step one fused op over [b, c, D, N], so Python overhead is paid per T tokens, not per token), then
  chunk-start states are chained (c small steps) and folded back in with the chunk's running decay:
  h_t = h_local_t + P_t ⊙ h_start. Only products of decays in (0, 1] are formed, never exp(+cumsum) (the
  log-space trick overflows fp32 once Σ Δ|A| > 88). c is chosen so that one step touches ~2^17 elements. It is
  also the path autograd goes through.
- on CUDA, `mamba_ssm`'s `selective_scan_fn` when importable (it has no initial state, so a carried state is
  added in closed form: h0 decays by exp(A * cumsum Δ) <= 1). This path is small and was never run here (no GPU).

`selective_scan_step` is one token of the same recurrence, used for decoding.
"""

from __future__ import annotations

import functools
import logging
import math

import torch

logger = logging.getLogger(__name__)

STEP_ELEMENTS = 1 << 17  # elements of [b, c, D, N] per step of the chunked loop
PER_TOKEN_ELEMENTS = 1 << 16  # states [b, D, N] at least this large take the per-token loop
CHUNK_TOKENS = 16  # T: tokens per chunk


def selective_scan_reference(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, h0: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-by-token scan. u, delta [b, L, D]; A [D, N]; B, C [b, L, N]; h0 [b, D, N] -> y [b, L, D], h [b, D, N]."""
    b, L, D = u.shape
    h = u.new_zeros(b, D, A.shape[1]) if h0 is None else h0
    ys = []
    for t in range(L):
        h = torch.exp(delta[:, t, :, None] * A) * h + (delta[:, t] * u[:, t])[:, :, None] * B[:, t, None, :]  # [b,D,N]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, t]))  # [b, D]
    y = torch.stack(ys, dim=1) if ys else u.new_zeros(b, 0, D)  # [b, L, D]
    return y, h


def selective_scan_per_token(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, h0: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference loop with in-place ops (no autograd): one fused update and one read-out per token."""
    b, L, D = u.shape
    h = u.new_zeros(b, D, A.shape[1]) if h0 is None else h0.clone()  # [b, D, N]
    y = u.new_empty(b, L, D)
    inputs = delta * u  # [b, L, D]
    for t in range(L):
        h.mul_(torch.exp(delta[:, t, :, None] * A)).addcmul_(inputs[:, t, :, None], B[:, t, None, :])
        torch.matmul(h, C[:, t, :, None], out=y[:, t, :, None])  # [b, D, 1]
    return y, h


def selective_scan_step(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, h: torch.Tensor
) -> torch.Tensor:
    """One token. u, delta [b, D]; B, C [b, N]; h [b, D, N] is updated in place. Returns y [b, D]."""
    h.mul_(torch.exp(delta[:, :, None] * A)).addcmul_((delta * u)[:, :, None], B[:, None, :])  # [b, D, N]
    return torch.matmul(h, C[:, :, None])[:, :, 0]  # [b, D]


class _Workspace:
    """Scratch buffers reused across blocks and calls (fresh multi-MB allocations page-fault on every block)."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, torch.dtype, torch.device], torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        key = (name, like.dtype, like.device)
        numel = math.prod(shape)
        buffer = self._buffers.get(key)
        if buffer is None or buffer.numel() < numel:
            with torch.inference_mode(False):  # usable both inside and outside inference mode
                buffer = torch.empty(numel, dtype=like.dtype, device=like.device)
            self._buffers[key] = buffer
        return buffer[:numel].view(shape)


_WORKSPACE = _Workspace()


def scan_plan(batch: int, channels: int, state: int) -> tuple[int, int]:
    """(T, c): tokens per chunk and chunks per step, from the working-set size of one step."""
    return CHUNK_TOKENS, max(1, STEP_ELEMENTS // (batch * channels * state))


def selective_scan_chunked(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    h0: torch.Tensor | None,
    *,
    chunk_tokens: int | None = None,
    chunks: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Same result as `selective_scan_reference`, block by block of c*T tokens (see the module docstring)."""
    b, L, D = u.shape
    N = A.shape[1]
    T, c = scan_plan(b, D, N)
    T, c = chunk_tokens or T, chunks or c
    h = u.new_zeros(b, D, N) if h0 is None else h0
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (u, delta, A, B, C, h))
    ys = []
    for start in range(0, L, T * c):
        end = min(L, start + T * c)
        y, h = _scan_block(u[:, start:end], delta[:, start:end], A, B[:, start:end], C[:, start:end], h, T, grad)
        ys.append(y)
    y = torch.cat(ys, dim=1) if len(ys) != 1 else ys[0]  # [b, L, D]
    return (y if L else u.new_zeros(b, 0, D)), h


def _scan_block(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    h0: torch.Tensor,
    max_tokens: int,
    grad: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scan n <= c*T tokens as c chunks of T tokens. Chunk-time is the leading axis so each step is contiguous."""
    b, n, D = u.shape
    N = A.shape[1]
    c = max(1, math.ceil(n / max_tokens))
    T = math.ceil(n / c)
    pad = c * T - n  # Δ = 0 on padding: decay 1, input 0, so the state passes through unchanged
    if pad:
        u, delta = (torch.nn.functional.pad(t, (0, 0, 0, pad)) for t in (u, delta))
        B, C = (torch.nn.functional.pad(t, (0, 0, 0, pad)) for t in (B, C))
    to_chunks = lambda t: t.reshape(b, c, T, t.shape[-1]).permute(2, 0, 1, 3)  # noqa: E731  [b,cT,X] -> [T,b,c,X]
    delta_c, B_c, C_c = to_chunks(delta), to_chunks(B), to_chunks(C)  # [T, b, c, D|N|N]
    shape = (T, b, c, D, N)
    if grad:
        decay = torch.exp(delta_c[..., None] * A)  # [T, b, c, D, N]
        inputs = (to_chunks(delta * u))[..., None] * B_c[..., None, :]  # [T, b, c, D, N]
        local = [inputs[0]]
        for t in range(1, T):
            local.append(torch.addcmul(inputs[t], decay[t], local[-1]))  # h_local_t = a_t h_local_{t-1} + b_t
        local = torch.stack(local)  # [T, b, c, D, N]
        decay = torch.cumprod(decay, dim=0)  # P_t: decay since the chunk start
    else:
        decay = _WORKSPACE.get("decay", shape, u)
        local = _WORKSPACE.get("local", shape, u)
        torch.mul(delta_c[..., None], A, out=decay).exp_()  # [T, b, c, D, N]
        torch.mul(to_chunks(delta * u)[..., None], B_c[..., None, :], out=local)  # [T, b, c, D, N]
        for t in range(1, T):
            local[t].addcmul_(decay[t], local[t - 1])
            decay[t].mul_(decay[t - 1])
    starts = []  # state entering each chunk
    h = h0  # [b, D, N]
    for j in range(c):
        starts.append(h)
        h = torch.addcmul(local[T - 1, :, j], decay[T - 1, :, j], h)
    starts = torch.stack(starts, dim=1)  # [b, c, D, N]
    states = local + decay * starts if grad else local.addcmul_(decay, starts)  # [T, b, c, D, N]
    y = torch.einsum("tbcdn,tbcn->tbcd", states, C_c)  # [T, b, c, D]
    y = y.permute(1, 2, 0, 3).reshape(b, c * T, D)[:, :n]  # [b, n, D]
    return y, h


# ------------------------------------------------------------------------------------------------ CUDA (optional)


@functools.cache
def _cuda_selective_scan():
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError:
        return None
    logger.info("using mamba_ssm's CUDA selective scan")
    return selective_scan_fn


def _scan_cuda(kernel, u, delta, A, B, C, h0):
    """mamba_ssm's kernel starts from h = 0; a carried h0 adds exp(A * cumsum Δ) ⊙ h0 to every state (linearity)."""
    y, h = kernel(
        u.transpose(1, 2).contiguous(),
        delta.transpose(1, 2).contiguous(),
        A.contiguous(),
        B.transpose(1, 2).contiguous(),
        C.transpose(1, 2).contiguous(),
        return_last_state=True,
    )
    y = y.transpose(1, 2)  # [b, L, D]
    if h0 is not None:
        y, h = add_initial_state(y, h, delta, A, C, h0)
    return y, h


def add_initial_state(
    y: torch.Tensor, h: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, C: torch.Tensor, h0: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn a zero-start scan (y, h) into one that started from h0, block by block of 256 tokens."""
    cum = torch.cumsum(delta, dim=1)  # [b, L, D], increasing: exp(A * cum) is in (0, 1]
    parts = []
    for s in range(0, y.shape[1], 256):
        decay = torch.exp(cum[:, s : s + 256, :, None] * A)  # [b, l, D, N]
        parts.append(y[:, s : s + 256] + torch.einsum("bldn,bdn,bln->bld", decay, h0, C[:, s : s + 256]))
    h = h + torch.exp(cum[:, -1, :, None] * A) * h0 if y.shape[1] else h0
    return (torch.cat(parts, dim=1) if parts else y), h


def selective_scan(
    u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, h0: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fastest exact scan for the inputs' device (all inputs fp32)."""
    if u.is_cuda and (kernel := _cuda_selective_scan()) is not None:
        return _scan_cuda(kernel, u, delta, A, B, C, h0)
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (u, delta, A, B, C, h0) if t is not None)
    if grad:  # training: a hand-written backward (scan_grad.py) is several times faster than autograd here
        from jamba_eval.model.scan_grad import selective_scan_trainable

        return selective_scan_trainable(u, delta, A, B, C, h0)
    if u.shape[0] * A.numel() >= PER_TOKEN_ELEMENTS:
        return selective_scan_per_token(u, delta, A, B, C, h0)
    return selective_scan_chunked(u, delta, A, B, C, h0)
