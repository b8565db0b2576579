"""Fixtures for the runner tests: tiny checkpoints saved with `save_pretrained`, and real `jamba-eval serve`
processes on free local ports.

Nothing here imports vLLM: the vllm tests import it inside themselves.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# head_dim 32: the smallest head size vLLM's CPU attention accepts, so the same checkpoint runs everywhere.
TINY_LLAMA = dict(
    vocab_size=1024,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    max_position_embeddings=1024,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
)


def _save(model, tokenizer_dir: Path, out: Path) -> Path:
    model.save_pretrained(out)
    for file in tokenizer_dir.iterdir():
        shutil.copy(file, out / file.name)
    return out


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, bpe_tokenizer_dir) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return _save(LlamaForCausalLM(LlamaConfig(**TINY_LLAMA)), bpe_tokenizer_dir, tmp_path_factory.mktemp("llama"))


@pytest.fixture(scope="session")
def tiny_mixtral_dir(tmp_path_factory, bpe_tokenizer_dir) -> Path:
    import torch
    from transformers import MixtralConfig, MixtralForCausalLM

    torch.manual_seed(1)
    config = MixtralConfig(**TINY_LLAMA, num_local_experts=4, num_experts_per_tok=2)
    return _save(MixtralForCausalLM(config), bpe_tokenizer_dir, tmp_path_factory.mktemp("mixtral"))


@pytest.fixture(scope="session")
def tiny_jamba_dir(tmp_path_factory, bpe_tokenizer_dir) -> Path:
    """A Jamba checkpoint written by transformers (attention at layer 2 of 4, MoE every other layer)."""
    import torch
    from transformers import JambaConfig, JambaForCausalLM

    torch.manual_seed(2)
    config = JambaConfig(
        vocab_size=1024,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=2,
        num_key_value_heads=1,
        attn_layer_period=4,
        attn_layer_offset=2,
        expert_layer_period=2,
        expert_layer_offset=1,
        num_experts=4,
        num_experts_per_tok=2,
        mamba_d_state=8,
        mamba_dt_rank=8,
        max_position_embeddings=1024,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return _save(JambaForCausalLM(config), bpe_tokenizer_dir, tmp_path_factory.mktemp("jamba"))


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
