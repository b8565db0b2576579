import pytest

from jamba_eval.errors import ConfigError, UserError
from jamba_eval.ruler.templates import ANSWER_PREFIXES, MODEL_TEMPLATES, PromptTemplate, singularize
from jamba_eval.tokenizer import ByteTokenizer, HFTokenizer


def test_base_template_splits_head_context_tail_and_answer_prefix():
    frame = PromptTemplate("base", ByteTokenizer()).frame("qa", {"query": "Who?"})
    assert frame.head.startswith("Answer the question based on the given documents.")
    assert frame.head.endswith("The following are given documents.\n\n")
    assert frame.tail.endswith("\n\nQuestion: Who?")
    assert frame.answer_prefix == " Answer:"
    assert frame.prompt("CTX") == frame.head + "CTX" + frame.tail + " Answer:"


def test_jamba_template_wraps_the_task_and_keeps_the_prefix_after_the_assistant_marker():
    frame = PromptTemplate("jamba", ByteTokenizer()).frame("variable_tracking", {"query": 12345, "num_v": 5})
    assert frame.head.startswith("<|startoftext|><|bom|><|system|> <|eom|><|bom|><|user|> Memorize and track")
    assert frame.tail.endswith("in the text above.<|eom|><|bom|><|assistant|>")
    assert frame.answer_prefix == ANSWER_PREFIXES["variable_tracking"].format(num_v=5, query=12345)
    assert "5 variables are assigned the value 12345, they are: " in frame.answer_prefix


def test_niah_singular_rewrite_as_ruler():
    template = PromptTemplate("base", ByteTokenizer())
    single = template.frame("niah", {"type_needle_v": "number", "query": "k"}, singular=True)
    assert single.head.startswith("A special magic number is hidden within the following text.")
    assert "What is the special magic number for k mentioned in the provided text?" in single.tail
    assert single.answer_prefix == " The special magic number for k mentioned in the provided text is"
    plural = template.frame("niah", {"type_needle_v": "numbers", "query": "a, and b"})
    assert plural.answer_prefix.endswith("mentioned in the provided text are")
    assert singularize("Some are all answers") == "A is answer"


def test_named_templates_get_the_rewrite_on_the_whole_string_like_ruler():
    frame = PromptTemplate("vicuna-chat", ByteTokenizer()).frame(
        "niah", {"type_needle_v": "number", "query": "k"}, singular=True
    )
    assert "polite answer to the user's questions" in frame.head  # upstream also rewrites the wrapper


def test_chat_template_uses_the_tokenizers_own(bpe_tokenizer_dir):
    tokenizer = HFTokenizer(bpe_tokenizer_dir)
    frame = PromptTemplate("chat", tokenizer).frame("freq_words_extraction", {"query": ""})
    assert frame.head.startswith("<|user|>\nRead the following coded text")
    assert frame.tail.endswith("above coded text?</s>\n<|assistant|>\n")
    assert frame.answer_prefix.startswith(" Answer: According to the coded text above")
    assert PromptTemplate("chat", tokenizer).sends_token_ids
    assert not PromptTemplate("jamba", tokenizer).sends_token_ids


def test_unknown_template_and_missing_chat_template_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="jamba"):
        PromptTemplate("llama-9", ByteTokenizer())
    from jamba_eval.testing import train_bpe_tokenizer

    plain = HFTokenizer(train_bpe_tokenizer(tmp_path / "plain", chat_template=False))
    with pytest.raises(UserError, match="no chat template"):
        PromptTemplate("chat", plain)
    assert "jamba" in MODEL_TEMPLATES
