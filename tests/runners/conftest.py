"""Fixtures for the runner tests: tiny checkpoints saved with `save_pretrained`, and real `jamba-eval serve`
processes on free local ports.

Nothing here imports vLLM: the vllm tests import it inside themselves.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest


@pytest.fixture(scope="session")
def torch_llama(tiny_llama_dir):
    """The reference runner every other runner is compared with."""
    from jamba_eval.runners.torch_runner import TorchRunner

    with TorchRunner(str(tiny_llama_dir), batch_size=4) as runner:
        yield runner


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unused_port() -> int:
    """A local port nothing listens on (a dead replica)."""
    return free_port()


@contextlib.contextmanager
def serve(*args: str, max_batch_size: int = 8, timeout_s: float = 90.0) -> Iterator[str]:
    """Run `jamba-eval serve ARGS` on a free port; yields its base URL (…/v1) once /health answers."""
    port = free_port()
    command = [sys.executable, "-m", "jamba_eval", "serve", *args, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--max-batch-size", str(max_batch_size)]
    env = {**os.environ, "JAMBA_EVAL_NO_PROGRESS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"jamba-eval serve exited with {process.returncode}:\n{process.stdout.read()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/health", timeout=1.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("jamba-eval serve did not come up in time")
            time.sleep(0.2)
        yield base + "/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def start_server():
    """`with start_server(*serve_args) as base_url:` runs a `jamba-eval serve` process for one test."""
    return serve


@pytest.fixture(scope="session")
def llama_server(tiny_llama_dir) -> Iterator[str]:
    """`jamba-eval serve` over the torch runner on the tiny Llama."""
    with serve("--runner", "torch", "--model", str(tiny_llama_dir), "--served-model-name", "tiny-llama") as url:
        yield url
