"""An lm-evaluation-harness model over any jamba-eval runner.

`RunnerLM` subclasses lm-eval's `TemplateLM`, so context/continuation splitting (trailing spaces move to the
continuation, empty context -> prefix token) is lm-eval's own code. Tokenization follows lm-eval's `hf` model:
strings are encoded with the tokenizer's special tokens unless they already start with BOS; contexts are truncated
on the left to `max_length` (minus `max_gen_toks` for generation); rolling log-likelihoods use lm-eval's own
window functions. Whole request lists go to the runner in one call, so the runner can sort and batch.
"""

from __future__ import annotations

import logging
from typing import Any

from lm_eval.api.model import TemplateLM
from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from jamba_eval.runners.base import GenerationRequest, Runner, TokenLoglikelihoodRequest, prefix_token_id

log = logging.getLogger(__name__)


class RunnerLM(TemplateLM):
    """lm-eval `LM` backed by a jamba-eval `Runner` (pass the instance to `lm_eval.simple_evaluate`)."""

    def __init__(self, runner: Runner, max_gen_toks: int = 256, max_length: int | None = None, seed: int = 1234):
        super().__init__()
        self.runner = runner
        self.tok = runner.tokenizer
        self._max_length = max_length or runner.max_length
        self.max_gen_toks = max_gen_toks
        self.seed = seed

    # ---- identity and tokenization (as lm-eval's hf model)
    @property
    def eot_token_id(self) -> int:
        return self.tok.eos_token_id

    @property
    def prefix_token_id(self) -> int:
        return prefix_token_id(self.tok)

    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def tokenizer_name(self) -> str:
        return str(getattr(self.tok, "name", "tokenizer")).replace("/", "__")

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
        if add_special_tokens is None:
            bos = getattr(self.tok, "bos_token", None)
            add_special_tokens = not (bos and string.startswith(bos))
        return self.tok.encode(string, add_special_tokens=add_special_tokens)

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        if not chat_template:
            return None
        return getattr(self.tok, "chat_template", None) or getattr(self.tok, "CHAT_TEMPLATE", None)

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        return self.tok.apply_chat_template(chat_history, add_generation_prompt=add_generation_prompt)

    # ---- scoring
    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs: int | None = None):
        token_requests = []
        for _, context_enc, continuation_enc in requests:
            if len(continuation_enc) > self.max_length:
                raise ValueError(f"continuation of {len(continuation_enc)} tokens exceeds max_length {self.max_length}")
            whole = (context_enc + continuation_enc)[-(self.max_length + 1) :]  # as lm-eval: left-truncate
            n = len(continuation_enc)
            token_requests.append(
                TokenLoglikelihoodRequest(context=whole[:-n] if n else whole, continuation=whole[-n:])
            )
        results = self.runner.loglikelihood_tokens(token_requests)
        answers = [(r.logprob, r.is_greedy) for r in results]
        for (cache_key, _, _), answer in zip(requests, answers, strict=True):
            if cache_key is not None:
                self.cache_hook.add_partial("loglikelihood", cache_key, answer)
        return answers

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        windows: list[tuple[int, tuple]] = []
        for index, (string,) in enumerate(req.args for req in requests):
            token_windows = get_rolling_token_windows(
                token_list=self.tok_encode(string),
                prefix_token=self.prefix_token_id,
                max_seq_len=self.max_length,
                context_len=1,
            )
            windows.extend((index, (None, *make_disjoint_window(w))) for w in token_windows)
        scores = self._loglikelihood_tokens([w for _, w in windows])
        totals = [0.0] * len(requests)
        for (index, _), (logprob, _) in zip(windows, scores, strict=True):
            totals[index] += logprob
        for request, total in zip(requests, totals, strict=True):
            self.cache_hook.add_partial("loglikelihood_rolling", request.args, total)
        return totals

    # ---- generation
    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        eos = self.tok.decode([self.eot_token_id], skip_special_tokens=False)
        generation_requests = []
        for context, gen_kwargs in (req.args for req in requests):
            kwargs = normalize_gen_kwargs(dict(gen_kwargs), self.max_gen_toks)
            until = handle_stop_sequences(kwargs.pop("until", None), eos=eos)
            max_gen_toks = kwargs.pop("max_gen_toks")
            max_context = self.max_length - max_gen_toks
            if max_context <= 0:
                raise ValueError(f"max_gen_toks {max_gen_toks} must be less than max_length {self.max_length}")
            prompt = self.tok_encode(context)[-max_context:]
            temperature = float(kwargs.get("temperature", 0.0) or 0.0) if kwargs.get("do_sample") else 0.0
            generation_requests.append(
                GenerationRequest(
                    prompt=prompt,
                    max_new_tokens=max_gen_toks,
                    stop=[s for s in until if s],
                    temperature=temperature,
                    top_p=float(kwargs.get("top_p", 1.0) or 1.0),
                    seed=self.seed if temperature > 0 else None,
                )
            )
        completions = self.runner.generate(generation_requests)
        texts = [c.text for c in completions]
        for request, text in zip(requests, texts, strict=True):
            self.cache_hook.add_partial("generate_until", request.args, text)
        return texts
