"""Parity with lm-eval's own `hf` model: our bridge + torch runner must give the same per-sample log-likelihoods
(<= 1e-4), the same generations and the same metrics on local tasks, for a tiny Llama and for Jamba (our Jamba
against transformers' Jamba)."""

import math

import pytest

lm_eval = pytest.importorskip("lm_eval")
pytest.importorskip("transformers")

TASKS = ["toy_mc", "toy_gen", "toy_ppl"]
MAX_LENGTH = 512


def _evaluate(model, task_manager, **kwargs):
    return lm_eval.simple_evaluate(
        model=model,
        tasks=TASKS,
        task_manager=task_manager,
        log_samples=True,
        bootstrap_iters=0,
        random_seed=0,
        numpy_random_seed=0,
        torch_random_seed=0,
        fewshot_random_seed=0,
        **kwargs,
    )


def _by_doc(results, task):
    return {s["doc_id"]: s for s in results["samples"][task]}


def _assert_same(ours, reference):
    for task in TASKS:
        mine, theirs = _by_doc(ours, task), _by_doc(reference, task)
        assert mine.keys() == theirs.keys()
        for doc_id, sample in theirs.items():
            for got, want in zip(mine[doc_id]["resps"], sample["resps"], strict=True):
                got, want = got[0], want[0]
                if isinstance(want, str):
                    assert got == want, (task, doc_id)
                elif isinstance(want, (list, tuple)):  # (loglikelihood, is_greedy)
                    assert got[0] == pytest.approx(want[0], rel=1e-6, abs=1e-4), (task, doc_id)
                    assert bool(got[1]) == bool(want[1]), (task, doc_id)
                else:  # rolling loglikelihood
                    assert got == pytest.approx(want, rel=1e-6, abs=1e-4), (task, doc_id)
        for metric, value in reference["results"][task].items():
            if "," in metric and "stderr" not in metric and isinstance(value, float) and math.isfinite(value):
                assert ours["results"][task][metric] == pytest.approx(value, rel=1e-5), (task, metric)


def _ours(path, **runner_args):
    from jamba_eval.runners.torch_runner import TorchRunner
    from jamba_eval.tasks.academic.bridge import RunnerLM

    return RunnerLM(TorchRunner(str(path), max_length=MAX_LENGTH, batch_size=4, **runner_args), max_gen_toks=12)


def _hf(path):
    return f"pretrained={path},dtype=float32,max_length={MAX_LENGTH},device=cpu"


def test_llama_parity_with_lm_eval_hf(tiny_llama_dir, task_manager):
    reference = _evaluate("hf", task_manager, model_args=_hf(tiny_llama_dir), batch_size=1)
    ours = _evaluate(_ours(tiny_llama_dir), task_manager)
    _assert_same(ours, reference)


def test_our_jamba_parity_with_lm_eval_hf_on_transformers_jamba(tiny_jamba_dir, task_manager):
    pytest.importorskip("jamba_eval.model.generate")
    reference = _evaluate("hf", task_manager, model_args=_hf(tiny_jamba_dir), batch_size=1)
    ours = _evaluate(_ours(tiny_jamba_dir, backend="jamba"), task_manager)
    _assert_same(ours, reference)


def test_rolling_loglikelihood_equals_direct_sum_with_window_stitching(tiny_llama_dir):
    """Documents longer than max_length are scored in disjoint windows; the sum must equal the log-probs computed
    directly from the model's logits window by window (and the whole-document sum when it fits)."""
    import torch
    from lm_eval.api.instance import Instance
    from transformers import AutoModelForCausalLM

    from jamba_eval.runners.torch_runner import TorchRunner
    from jamba_eval.tasks.academic.bridge import RunnerLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32).eval()
    text = " ".join(["The Congress shall assemble at least once in every year."] * 12)
    for max_length in (1024, 48):
        lm = RunnerLM(TorchRunner(str(tiny_llama_dir), max_length=max_length))
        tokens = lm.tok_encode(text)
        assert (len(tokens) > max_length) == (max_length == 48)
        [ours] = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (text,), 0)])
        # direct: every token predicted once; token i is conditioned on the max_length tokens before it (the prefix
        # token stands before token 0), in windows that start where the previous one ended, as lm-eval defines them
        sequence = [lm.prefix_token_id, *tokens]
        expected, start = 0.0, 0
        while start < len(tokens):
            end = min(start + max_length, len(tokens))
            context_start = max(0, end - max_length)
            window = torch.tensor([sequence[context_start:end]])
            with torch.no_grad():
                logprobs = torch.log_softmax(model(window).logits[0].float(), dim=-1)
            for i in range(start, end):
                expected += logprobs[i - context_start, tokens[i]].item()
            start = end
        assert ours == pytest.approx(expected, abs=1e-3)
