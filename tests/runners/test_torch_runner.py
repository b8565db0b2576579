"""The torch runner on transformers checkpoints, checked against transformers itself."""

from __future__ import annotations

import math

import pytest
import torch

from jamba_eval.config import ModelConfig
from jamba_eval.errors import UserError
from jamba_eval.runners.base import (
    GenerationRequest,
    LoglikelihoodRequest,
    TokenLoglikelihoodRequest,
    load_runner,
    split_for_loglikelihood,
)
from jamba_eval.runners.torch_runner import TorchRunner

PROMPTS = [
    "The President said",
    "Congress shall",
    "In the year of our Lord one thousand eight hundred and sixty",
    "We the people of the United States, in order to form a more perfect union, establish justice",
]


def hf_model(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()


def hf_greedy(model, ids: list[int], n: int) -> list[int]:
    """transformers' own greedy decoding: the reference."""
    with torch.inference_mode():
        out = model.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=n,
            do_sample=False,
            pad_token_id=0,
        )
    return out[0, len(ids) :].tolist()


def hf_logprob(model, context: list[int], continuation: list[int]) -> float:
    with torch.inference_mode():
        logits = model(torch.tensor([context + continuation])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return sum(logprobs[len(context) - 1 + k, t].item() for k, t in enumerate(continuation))


@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_mixtral_dir"])
def test_greedy_equals_transformers_generate(fixture, request):
    path = request.getfixturevalue(fixture)
    runner = TorchRunner(str(path), batch_size=4)
    completions = runner.generate([GenerationRequest(p, max_new_tokens=12) for p in PROMPTS])
    model = hf_model(path)
    for prompt, completion in zip(PROMPTS, completions, strict=True):
        ids = runner.tokenizer.encode(prompt, add_special_tokens=True)
        assert completion.token_ids == hf_greedy(model, ids, 12)
        assert completion.text == runner.tokenizer.decode(completion.token_ids)
        assert completion.prompt_tokens == len(ids)


@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_mixtral_dir"])
def test_batched_left_padding_equals_one_by_one(fixture, request):
    path = request.getfixturevalue(fixture)
    batched = TorchRunner(str(path), batch_size=8)
    single = TorchRunner(str(path), batch_size=1)
    requests = [GenerationRequest(p, max_new_tokens=n) for p, n in zip(PROMPTS, (16, 5, 9, 16), strict=True)]
    lengths = {len(batched.tokenizer.encode(p, add_special_tokens=True)) for p in PROMPTS}
    assert len(lengths) == len(PROMPTS), "prompts must differ in length so the batch is padded"
    together = batched.generate(requests)
    alone = [single.generate([r])[0] for r in requests]
    assert [c.token_ids for c in together] == [c.token_ids for c in alone]
    assert [c.text for c in together] == [c.text for c in alone]
    for request, completion in zip(requests, together, strict=True):  # each row kept its own limit
        assert completion.completion_tokens <= request.max_new_tokens
        if completion.finish_reason == "length":
            assert completion.completion_tokens == request.max_new_tokens


def test_stop_strings_cut_the_text_and_end_the_row(torch_llama):
    [free] = torch_llama.generate([GenerationRequest(PROMPTS[0], max_new_tokens=24)])
    stop = free.text[6:9]
    cut = free.text.find(stop)
    assert cut > 0 and stop.strip()
    [stopped] = torch_llama.generate([GenerationRequest(PROMPTS[0], max_new_tokens=24, stop=["zzzz", stop])])
    assert stopped.text == free.text[:cut]
    assert stopped.finish_reason == "stop"
    assert stopped.completion_tokens < free.completion_tokens  # generation ended when the stop string appeared
    assert stopped.token_ids == free.token_ids[: stopped.completion_tokens]
    assert stop in torch_llama.tokenizer.decode(stopped.token_ids)


def test_token_id_and_chat_prompts_follow_the_encoding_rules(torch_llama):
    tok = torch_llama.tokenizer
    ids = tok.encode(PROMPTS[1], add_special_tokens=True)
    by_text, by_ids = torch_llama.generate(
        [GenerationRequest(PROMPTS[1], max_new_tokens=8), GenerationRequest(ids, max_new_tokens=8)]
    )
    assert by_text == by_ids
    messages = [{"role": "user", "content": "Say hello"}]
    rendered = tok.encode(tok.apply_chat_template(messages, add_generation_prompt=True))
    by_chat, by_rendered = torch_llama.generate(
        [GenerationRequest(messages, max_new_tokens=8), GenerationRequest(rendered, max_new_tokens=8)]
    )
    assert by_chat.prompt_tokens == len(rendered) and rendered[0] != tok.bos_token_id
    assert by_chat.text == by_rendered.text


def test_seeded_sampling_is_reproducible_per_request(torch_llama):
    def sample(seed, prompt=PROMPTS[0], **kw):
        return GenerationRequest(prompt, max_new_tokens=16, temperature=1.0, seed=seed, **kw)

    alone = torch_llama.generate([sample(7)])[0].text
    among_others = torch_llama.generate([sample(3, PROMPTS[2]), sample(7), GenerationRequest(PROMPTS[1], 4)])[1].text
    assert alone == among_others
    assert torch_llama.generate([sample(8)])[0].text != alone
    # a nucleus smaller than the top token's mass is greedy decoding
    [greedy] = torch_llama.generate([GenerationRequest(PROMPTS[0], max_new_tokens=16)])
    assert torch_llama.generate([sample(5, top_p=1e-6)])[0].text == greedy.text


def test_loglikelihood_equals_a_direct_forward(torch_llama, tiny_llama_dir):
    model = hf_model(tiny_llama_dir)
    tok = torch_llama.tokenizer
    pairs = [("The President said", " that"), ("Congress shall make ", "no law"), ("", "Hello world")]
    results = torch_llama.loglikelihood([LoglikelihoodRequest(c, x) for c, x in pairs])
    for (context, continuation), result in zip(pairs, results, strict=True):
        ctx_ids, cont_ids = split_for_loglikelihood(tok, context, continuation)
        assert result.num_tokens == len(cont_ids)
        assert result.logprob == pytest.approx(hf_logprob(model, ctx_ids, cont_ids), abs=1e-4)
        assert result.logprob < 0
    # the greedy continuation is greedy, a changed one is not
    ctx = tok.encode("The President said", add_special_tokens=True)
    greedy = hf_greedy(model, ctx, 4)
    other = [greedy[0], (greedy[1] + 1) % tok.vocab_size, *greedy[2:]]
    scores = torch_llama.loglikelihood_tokens(
        [TokenLoglikelihoodRequest(ctx, greedy), TokenLoglikelihoodRequest(ctx, other)]
    )
    assert [s.is_greedy for s in scores] == [True, False]


def test_loglikelihood_batching_and_prompt_logprobs_agree(torch_llama, tiny_llama_dir):
    tok = torch_llama.tokenizer
    sequences = [tok.encode(p, add_special_tokens=True) for p in PROMPTS]
    requests = [TokenLoglikelihoodRequest(s[:3], s[3:]) for s in sequences]
    together = torch_llama.loglikelihood_tokens(requests)
    single = TorchRunner(str(tiny_llama_dir), batch_size=1)
    alone = [single.loglikelihood_tokens([r])[0] for r in requests]
    per_token = torch_llama.prompt_logprobs(sequences)
    for a, b, seq, scores in zip(together, alone, sequences, per_token, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4) and a.is_greedy == b.is_greedy
        assert len(scores) == len(seq) - 1 and [s.token_id for s in scores] == seq[1:]
        assert sum(s.logprob for s in scores[2:]) == pytest.approx(a.logprob, abs=1e-4)
        assert all(s.top_logprob >= s.logprob for s in scores)


def test_context_longer_than_max_length_is_cut_from_the_left(tiny_llama_dir):
    runner = TorchRunner(str(tiny_llama_dir), max_length=8)
    context, continuation = list(range(10, 30)), [40, 41, 42]
    [cut] = runner.loglikelihood_tokens([TokenLoglikelihoodRequest(context, continuation)])
    [kept] = runner.loglikelihood_tokens([TokenLoglikelihoodRequest(context[-6:], continuation)])
    assert cut.logprob == pytest.approx(kept.logprob, abs=1e-5)
    with pytest.raises(UserError, match="max_length"):
        runner.generate([GenerationRequest(list(range(10, 20)), max_new_tokens=2)])


def test_timings_token_counts_and_peak_memory(torch_llama):
    completions = torch_llama.generate([GenerationRequest(p, max_new_tokens=6) for p in PROMPTS])
    for c in completions:
        assert 0 < c.time_to_first_token_s <= c.total_time_s
        assert c.completion_tokens == len(c.token_ids) <= 6
        assert c.peak_memory_bytes > 10 * 2**20
        assert c.finish_reason in ("stop", "length")
    stats = torch_llama.memory_stats()
    assert stats["peak_memory_bytes"] >= completions[0].peak_memory_bytes and stats["kind"] == "process_peak_rss"
    described = torch_llama.describe()
    assert described["backend"] == "transformers" and described["model_type"] == "llama"
    assert not math.isnan(described["parameters"])


def test_bad_arguments_are_one_line_user_errors(tiny_llama_dir, tmp_path):
    cases = [
        (lambda: load_runner(ModelConfig("torch", str(tiny_llama_dir), {"pretrained": "x"})), "unknown model argument"),
        (lambda: TorchRunner(str(tiny_llama_dir), dtype="int3"), "unknown dtype"),
        (lambda: TorchRunner(str(tiny_llama_dir), backend="onnx"), "backend"),
        (lambda: TorchRunner(str(tmp_path / "missing" / "model")), "no model directory"),
        (lambda: TorchRunner(str(tmp_path)), "no config.json"),
        (lambda: TorchRunner(str(tiny_llama_dir), device="cuda:0"), "CUDA"),
    ]
    for make, message in cases:
        with pytest.raises(UserError, match=message) as info:
            make()
        assert "\n" not in str(info.value)


def test_jamba_checkpoint_through_the_transformers_backend(tiny_jamba_dir):
    """transformers' own Jamba, padded and batched by our loop, equals transformers' generate."""
    runner = TorchRunner(str(tiny_jamba_dir), backend="transformers", batch_size=4)
    completions = runner.generate([GenerationRequest(p, max_new_tokens=6) for p in PROMPTS[:3]])
    model = hf_model(tiny_jamba_dir)
    for prompt, completion in zip(PROMPTS[:3], completions, strict=True):
        ids = runner.tokenizer.encode(prompt, add_special_tokens=True)
        assert completion.token_ids == hf_greedy(model, ids, 6)
    assert runner.describe()["model_type"] == "jamba"
