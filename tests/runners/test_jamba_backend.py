"""The torch runner over our Jamba (`jamba_eval.model`): `jamba-tiny` out of the box, and a Jamba checkpoint that
must answer exactly as transformers' Jamba does on the same weights.

Until `jamba_eval.model` is merged, the tests that need it skip (and only they); the error a user sees meanwhile
is tested here too.
"""

from __future__ import annotations

import sys

import pytest

from jamba_eval.errors import NotAvailableYet
from jamba_eval.runners.base import GenerationRequest, TokenLoglikelihoodRequest
from jamba_eval.runners.torch_runner import TorchRunner

PROMPTS = ["The President said", "Congress", "We the people of the United States, in order to form"]


def needs_model():
    pytest.importorskip("jamba_eval.model.generate", reason="jamba_eval.model not merged yet")


def test_without_the_model_package_the_error_is_clear(monkeypatch):
    import jamba_eval.model

    monkeypatch.setitem(sys.modules, "jamba_eval.model.generate", None)  # makes the import fail
    monkeypatch.delattr(jamba_eval.model, "generate", raising=False)
    with pytest.raises(NotAvailableYet, match="jamba_eval.model") as info:
        TorchRunner("jamba-tiny")
    assert "\n" not in str(info.value)


def test_jamba_tiny_works_out_of_the_box():
    needs_model()
    with TorchRunner("jamba-tiny", batch_size=4) as runner:
        assert runner.tokenizer.name == "byte" and runner.describe()["backend"] == "jamba_eval.model"
        requests = [GenerationRequest(p, max_new_tokens=n) for p, n in zip(PROMPTS, (12, 4, 8), strict=True)]
        together = runner.generate(requests)
        alone = [runner.generate([r])[0] for r in requests]
        assert [c.token_ids for c in together] == [c.token_ids for c in alone]  # left padding changes nothing
        for request, completion in zip(requests, together, strict=True):
            assert 0 < completion.completion_tokens <= request.max_new_tokens
            assert 0 < completion.time_to_first_token_s <= completion.total_time_s
            assert completion.peak_memory_bytes > 0
        seeded = GenerationRequest(PROMPTS[0], max_new_tokens=12, temperature=1.0, seed=3)
        assert runner.generate([seeded])[0].text == runner.generate([requests[1], seeded])[1].text
        # what greedy decoding produced is greedy under scoring
        prompt = runner.tokenizer.encode(PROMPTS[0], add_special_tokens=True)
        [score] = runner.loglikelihood_tokens([TokenLoglikelihoodRequest(prompt, together[0].token_ids)])
        assert score.is_greedy and score.logprob < 0


def test_stop_strings_and_chunked_prefill():
    needs_model()
    with TorchRunner("jamba-tiny") as whole, TorchRunner("jamba-tiny", prefill_chunk_size=4) as chunked:
        request = GenerationRequest(PROMPTS[2], max_new_tokens=16)
        [a], [b] = whole.generate([request]), chunked.generate([request])
        assert a.token_ids == b.token_ids
        stop = a.text[4:6]
        if stop and a.text.find(stop) > 0:
            [cut] = whole.generate([GenerationRequest(PROMPTS[2], max_new_tokens=16, stop=[stop])])
            assert cut.text == a.text[: a.text.find(stop)] and cut.finish_reason == "stop"


def test_our_jamba_answers_as_transformers_jamba(tiny_jamba_dir):
    needs_model()
    ours = TorchRunner(str(tiny_jamba_dir), batch_size=4)
    theirs = TorchRunner(str(tiny_jamba_dir), backend="transformers", batch_size=4)
    assert ours.describe()["backend"] == "jamba_eval.model"
    requests = [GenerationRequest(p, max_new_tokens=8) for p in PROMPTS]
    assert [c.token_ids for c in ours.generate(requests)] == [c.token_ids for c in theirs.generate(requests)]
    tok = ours.tokenizer
    sequences = [tok.encode(p, add_special_tokens=True) for p in PROMPTS]
    scoring = [TokenLoglikelihoodRequest(s[:2], s[2:]) for s in sequences]
    for a, b in zip(ours.loglikelihood_tokens(scoring), theirs.loglikelihood_tokens(scoring), strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-3) and a.is_greedy == b.is_greedy
    for a, b in zip(ours.prompt_logprobs(sequences[:2]), theirs.prompt_logprobs(sequences[:2]), strict=True):
        assert [s.token_id for s in a] == [s.token_id for s in b]
        assert [s.top_token_id for s in a] == [s.top_token_id for s in b]
        assert [s.logprob for s in a] == pytest.approx([s.logprob for s in b], abs=1e-4)


def test_prompt_logprobs_in_one_pass_agree_with_scoring_and_chunking():
    needs_model()
    with TorchRunner("jamba-tiny", batch_size=3) as whole, TorchRunner("jamba-tiny", prefill_chunk_size=3) as chunked:
        sequences = [whole.tokenizer.encode(p, add_special_tokens=True) for p in PROMPTS]
        per_token = whole.prompt_logprobs(sequences)
        for a, b in zip(per_token, chunked.prompt_logprobs(sequences), strict=True):
            assert [s.top_token_id for s in a] == [s.top_token_id for s in b]
            assert [s.logprob for s in a] == pytest.approx([s.logprob for s in b], abs=1e-4)
        sums = whole.loglikelihood_tokens([TokenLoglikelihoodRequest(s[:1], s[1:]) for s in sequences])
        for scores, seq, total in zip(per_token, sequences, sums, strict=True):
            assert [s.token_id for s in scores] == seq[1:]
            assert sum(s.logprob for s in scores) == pytest.approx(total.logprob, abs=1e-3)
            assert all(
                s.top_logprob >= s.logprob - 1e-6 and s.top_token_id < whole.tokenizer.vocab_size for s in scores
            )
