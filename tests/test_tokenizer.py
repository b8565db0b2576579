import pytest

from jamba_eval.errors import UserError
from jamba_eval.tokenizer import ByteTokenizer, HFTokenizer, Tokenizer, load_tokenizer

TEXTS = ["", "hello world", "Ünïcödé — 日本語 🚀", "  leading and trailing  ", "line\nbreaks\ttabs"]


@pytest.fixture(scope="module")
def byte():
    return ByteTokenizer()


@pytest.mark.parametrize("text", TEXTS)
def test_byte_round_trip_and_count(byte, text):
    ids = byte.encode(text)
    assert ids == list(text.encode("utf-8"))
    assert byte.decode(ids) == text
    assert byte.count(text) == len(text.encode("utf-8"))
    assert byte.encode(text, add_special_tokens=True) == [byte.bos_token_id, *ids]


def test_byte_specials_and_offsets(byte):
    text = "a<|user|>é"
    ids, offsets = byte.encode_with_offsets(text)
    assert ids == [97, byte.special_ids["<|user|>"], 0xC3, 0xA9]
    assert offsets == [(0, 1), (1, 9), (9, 10), (9, 10)]
    assert byte.decode(ids) == "aé"
    assert byte.decode(ids, skip_special_tokens=False) == text
    with pytest.raises(ValueError, match="outside"):
        byte.decode([9999])


def test_byte_chat_template(byte):
    rendered = byte.apply_chat_template([{"role": "user", "content": "Hi"}])
    assert rendered == "<|user|>\nHi<|end|>\n<|assistant|>\n"
    ids = byte.encode(rendered)
    assert ids[0] == byte.special_ids["<|user|>"]
    assert isinstance(byte, Tokenizer)


@pytest.fixture(scope="module")
def bpe(bpe_tokenizer_dir):
    return HFTokenizer(bpe_tokenizer_dir)


@pytest.mark.parametrize("text", TEXTS)
def test_bpe_round_trip_and_count(bpe, text):
    ids = bpe.encode(text)
    assert bpe.decode(ids) == text
    assert bpe.count(text) == len(ids)
    assert bpe.encode(text, add_special_tokens=True) == [bpe.bos_token_id, *ids]


def test_bpe_compresses_english_and_matches_transformers(bpe, bpe_tokenizer_dir):
    text = "The Congress of the United States shall assemble at least once in every year."
    assert bpe.count(text) < len(text) / 2
    transformers = pytest.importorskip("transformers")
    reference = transformers.AutoTokenizer.from_pretrained(str(bpe_tokenizer_dir))
    assert bpe.encode(text, add_special_tokens=True) == reference(text)["input_ids"]
    assert bpe.encode(text) == reference(text, add_special_tokens=False)["input_ids"]
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
    assert bpe.apply_chat_template(messages) == reference.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )


def test_bpe_offsets_cover_the_text(bpe):
    text = "Fellow-Citizens of the Senate and House of Representatives: 1234567"
    ids, offsets = bpe.encode_with_offsets(text)
    assert len(ids) == len(offsets)
    assert "".join(text[s:e] for s, e in offsets) == text
    # a prefix cut at a token boundary tokenizes to a prefix of the ids
    cut = offsets[5][1]
    assert bpe.encode(text[:cut]) == ids[:6]


def test_bpe_specials_and_fingerprint(bpe, bpe_tokenizer_dir, tmp_path):
    assert bpe.eos_token_id == 2 and bpe.pad_token_id == 0 and bpe.bos_token_id == 1
    assert bpe.fingerprint().startswith("hf-") and bpe.fingerprint() == HFTokenizer(bpe_tokenizer_dir).fingerprint()
    assert bpe.fingerprint() != ByteTokenizer().fingerprint()


def test_load_tokenizer_errors(tmp_path):
    assert isinstance(load_tokenizer("byte"), ByteTokenizer)
    with pytest.raises(UserError, match="neither"):
        load_tokenizer(tmp_path / "nope")
    with pytest.raises(UserError, match="no tokenizer.json"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(UserError, match="cannot read"):
        load_tokenizer(tmp_path)


def test_missing_chat_template_is_clear(bpe_tokenizer_dir, tmp_path):
    from jamba_eval.testing import train_bpe_tokenizer

    plain = HFTokenizer(train_bpe_tokenizer(tmp_path / "plain", vocab_size=300, chat_template=False))
    assert not plain.has_chat_template
    with pytest.raises(UserError, match="no chat template"):
        plain.apply_chat_template([{"role": "user", "content": "x"}])
