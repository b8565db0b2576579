from jamba_eval.config import ModelConfig
from jamba_eval.runners.base import (
    GenerationRequest,
    LoglikelihoodRequest,
    encode_prompt,
    load_runner,
    split_for_loglikelihood,
    truncate_at_stop,
)
from jamba_eval.runners.mock import MockRunner
from jamba_eval.tokenizer import ByteTokenizer


def test_truncate_at_stop_takes_the_earliest():
    assert truncate_at_stop("abc\n\nQ: x", ["Q:", "\n\n"]) == ("abc", True)
    assert truncate_at_stop("abc", ["zz", ""]) == ("abc", False)


def test_encode_prompt_rules():
    tok = ByteTokenizer()
    assert encode_prompt(tok, "hi") == [tok.bos_token_id, 104, 105]
    chat = encode_prompt(tok, [{"role": "user", "content": "hi"}])
    assert chat[0] == tok.special_ids["<|user|>"] and tok.bos_token_id not in chat
    assert encode_prompt(tok, [5, 6]) == [5, 6]


def test_split_for_loglikelihood_matches_lm_eval_rules(bpe_tokenizer_dir):
    from jamba_eval.tokenizer import HFTokenizer

    tok = HFTokenizer(bpe_tokenizer_dir)
    context, continuation = split_for_loglikelihood(tok, "The answer is ", "forty two")
    assert context == tok.encode("The answer is", add_special_tokens=True)
    assert context[0] == tok.bos_token_id
    assert context + continuation == tok.encode("The answer is forty two", add_special_tokens=True)
    empty_context, cont = split_for_loglikelihood(tok, "", "hello")
    assert empty_context == [tok.bos_token_id] and cont == tok.encode("hello")


def test_mock_runner_through_the_registry():
    runner = load_runner(ModelConfig(runner="mock", model="four\nfive"))
    [completion] = runner.generate([GenerationRequest("What?", max_new_tokens=64, stop=["\n"])])
    assert completion.text == "four" and completion.finish_reason == "stop"
    [short] = runner.generate([GenerationRequest("What?", max_new_tokens=2)])
    assert short.text == "fo" and short.finish_reason == "length"
    scores = runner.loglikelihood([LoglikelihoodRequest("a", " b"), LoglikelihoodRequest("a", " b")])
    assert scores[0] == scores[1] and scores[0].num_tokens == 2


def test_mock_runner_with_responder():
    runner = MockRunner(responder=lambda prompt: prompt[::-1])
    [completion] = runner.generate([GenerationRequest("abc", max_new_tokens=10)])
    assert completion.text.startswith("cba")
