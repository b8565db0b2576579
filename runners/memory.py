"""Peak memory of a batch: `torch.cuda.max_memory_allocated` on CUDA, the process's peak RSS on CPU.

On Linux the RSS high-water mark (`VmHWM`) can be reset by writing 5 to `/proc/self/clear_refs`, so each batch
reports its own peak; where that is not allowed the peak is the process's lifetime peak (`ru_maxrss`).
"""

from __future__ import annotations

import contextlib
import resource
import sys
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak(device: torch.device) -> None:
    """Start a new peak-memory window."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    with contextlib.suppress(OSError):  # not allowed in some containers: then the lifetime peak is reported
        _CLEAR_REFS.write_text("5")


def peak_bytes(device: torch.device) -> int:
    """Peak bytes since the last `reset_peak` (CUDA: allocated by torch; CPU: resident set of the process)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maxrss if sys.platform == "darwin" else maxrss * 1024)


def memory_kind(device: torch.device) -> str:
    return "cuda_max_allocated" if device.type == "cuda" else "process_peak_rss"
