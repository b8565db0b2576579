"""Every runner available here answers the same small requests; each agrees with the torch runner on the same model.

- torch (tiny Llama): the reference, itself checked against transformers in test_torch_runner.py;
- openai against a real `jamba-eval serve` process over the torch runner: equal greedy text, finish reasons, token
  counts and log-likelihoods;
- torch and openai over our Jamba (`jamba-tiny`) once `jamba_eval.model` is merged;
- vllm: in test_vllm_runner.py (marker `vllm`, its own virtualenv).
"""

from __future__ import annotations

import pytest

from jamba_eval.runners.base import GenerationRequest, LoglikelihoodRequest, Runner, encode_prompt
from jamba_eval.runners.openai_runner import OpenAIRunner

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a state."}]
GENERATION = [
    GenerationRequest("The President said", max_new_tokens=10),
    GenerationRequest("Congress shall make no law", max_new_tokens=4),
    GenerationRequest("We the people", max_new_tokens=16, stop=["e", "\n"]),
    GenerationRequest(CHAT, max_new_tokens=8),
    GenerationRequest("In the year of our Lord", max_new_tokens=6, temperature=0.8, seed=11),
]
SCORING = [
    LoglikelihoodRequest("The President said", " that"),
    LoglikelihoodRequest("Congress shall make ", "no law"),
    LoglikelihoodRequest("", "Hello world"),
    LoglikelihoodRequest("Question: how many states? Answer:", " fifty"),
]


def check_protocol(runner: Runner) -> tuple[list, list]:
    """Protocol invariants any runner must keep on the shared requests."""
    completions = runner.generate(GENERATION)
    assert len(completions) == len(GENERATION)
    for request, completion in zip(GENERATION, completions, strict=True):
        assert isinstance(completion.text, str)
        assert completion.finish_reason in ("stop", "length")
        assert 0 < completion.completion_tokens <= request.max_new_tokens
        assert completion.prompt_tokens == len(encode_prompt(runner.tokenizer, request.prompt))
        assert not any(s in completion.text for s in request.stop)
    scores = runner.loglikelihood(SCORING)
    assert len(scores) == len(SCORING)
    assert all(s.logprob < 0 and s.num_tokens > 0 for s in scores)
    return completions, scores


def assert_same_answers(runner: Runner, reference: Runner) -> None:
    completions, scores = check_protocol(runner)
    expected, expected_scores = check_protocol(reference)
    greedy = [i for i, r in enumerate(GENERATION) if r.temperature == 0]
    assert [completions[i].text for i in greedy] == [expected[i].text for i in greedy]
    for got, want in zip(completions, expected, strict=True):
        assert (got.finish_reason, got.prompt_tokens) == (want.finish_reason, want.prompt_tokens)
        assert got.completion_tokens == want.completion_tokens
    for got, want in zip(scores, expected_scores, strict=True):
        assert got.logprob == pytest.approx(want.logprob, abs=1e-4)
        assert (got.is_greedy, got.num_tokens) == (want.is_greedy, want.num_tokens)


def test_torch_runner_keeps_the_protocol(torch_llama):
    completions, _ = check_protocol(torch_llama)
    assert completions[2].finish_reason == "stop"  # "e" appears in any English-like text of 16 tokens


def test_openai_runner_against_jamba_eval_serve_equals_torch(llama_server, tiny_llama_dir, torch_llama):
    with OpenAIRunner("tiny-llama", base_url=llama_server, tokenizer=str(tiny_llama_dir), num_concurrent=4) as runner:
        assert_same_answers(runner, torch_llama)
        assert runner.max_length == torch_llama.max_length  # read from the server's /v1/models
        sampled = GENERATION[-1]
        assert runner.generate([sampled])[0].text == torch_llama.generate([sampled])[0].text  # same seed, same text


def test_jamba_tiny_torch_and_served(start_server):
    pytest.importorskip("jamba_eval.model.generate", reason="jamba_eval.model not merged yet")
    from jamba_eval.runners.torch_runner import TorchRunner

    with TorchRunner("jamba-tiny", batch_size=4) as local:
        check_protocol(local)
        with (
            start_server("--runner", "torch", "--model", "jamba-tiny") as url,
            OpenAIRunner("jamba-tiny", base_url=url, tokenizer="byte", num_concurrent=4) as remote,
        ):
            assert_same_answers(remote, local)
