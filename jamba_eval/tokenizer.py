"""One tokenizer protocol with two implementations.

- `ByteTokenizer`: ids 0-255 are UTF-8 bytes, followed by a few special tokens. Needs no files, so the embedded
  default model runs offline out of the box.
- `HFTokenizer`: any Hugging Face fast tokenizer saved in a local directory (`tokenizer.json` plus
  `tokenizer_config.json`), run through the `tokenizers` library; chat templates are rendered with jinja2 the
  way transformers renders them (sandboxed, `trim_blocks`/`lstrip_blocks`, `raise_exception`, `tojson`).

`count` counts tokens without special tokens, as RULER does (`len(tokenizer.tokenize(text))`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from jamba_eval.errors import UserError

Message = dict[str, str]


@runtime_checkable
class Tokenizer(Protocol):
    name: str
    vocab_size: int
    bos_token_id: int | None
    eos_token_id: int | None
    pad_token_id: int | None

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]: ...

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Ids without special tokens and, for each, the (start, end) character span it covers."""
        ...

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str: ...

    def count(self, text: str) -> int: ...

    def apply_chat_template(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str: ...

    def fingerprint(self) -> str:
        """A short hash that changes whenever tokenization could change (used to key cached data sets)."""
        ...


class ByteTokenizer:
    """UTF-8 bytes as ids 0-255, then special tokens; special-token strings in text are parsed as specials."""

    SPECIALS = ("<pad>", "<bos>", "<eos>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
    CHAT_TEMPLATE = (
        "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    )

    def __init__(self) -> None:
        self.name = "byte"
        self.special_ids = {token: 256 + i for i, token in enumerate(self.SPECIALS)}
        self.id_to_special = {i: t for t, i in self.special_ids.items()}
        self.vocab_size = 256 + len(self.SPECIALS)
        self.pad_token_id = self.special_ids["<pad>"]
        self.bos_token_id = self.special_ids["<bos>"]
        self.eos_token_id = self.special_ids["<eos>"]
        self.bos_token, self.eos_token = "<bos>", "<eos>"
        self.has_chat_template = True
        self._special_re = re.compile("(" + "|".join(re.escape(t) for t in self.SPECIALS) + ")")

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids = [self.bos_token_id] if add_special_tokens else []
        for piece in self._special_re.split(text):
            if piece in self.special_ids:
                ids.append(self.special_ids[piece])
            elif piece:
                ids.extend(piece.encode("utf-8"))
        return ids

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        position = 0
        for piece in self._special_re.split(text):
            if piece in self.special_ids:
                ids.append(self.special_ids[piece])
                offsets.append((position, position + len(piece)))
            else:
                for i, char in enumerate(piece):
                    encoded = char.encode("utf-8")
                    ids.extend(encoded)
                    offsets.extend([(position + i, position + i + 1)] * len(encoded))
            position += len(piece)
        return ids, offsets

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        out: list[str] = []
        buffer = bytearray()
        for token in ids:
            token = int(token)
            if token < 256:
                buffer.append(token)
                continue
            out.append(buffer.decode("utf-8", errors="replace"))
            buffer.clear()
            if token not in self.id_to_special:
                raise ValueError(f"token id {token} is outside the byte tokenizer's vocabulary ({self.vocab_size})")
            if not skip_special_tokens:
                out.append(self.id_to_special[token])
        out.append(buffer.decode("utf-8", errors="replace"))
        return "".join(out)

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def apply_chat_template(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        return render_chat_template(self.CHAT_TEMPLATE, messages, add_generation_prompt)

    def fingerprint(self) -> str:
        return "byte-v1"


def _token_content(value: Any) -> str | None:
    if isinstance(value, dict):  # AddedToken serialised as {"content": ..., ...}
        return value.get("content")
    return value


class HFTokenizer:
    """A Hugging Face fast tokenizer from a local directory, without needing transformers."""

    def __init__(self, path: str | Path):
        from tokenizers import Tokenizer as _RawTokenizer

        self.path = Path(path)
        tokenizer_file = self.path / "tokenizer.json"
        if not tokenizer_file.exists():
            hint = (
                " (a sentencepiece tokenizer.model can be converted with transformers: "
                "AutoTokenizer.from_pretrained(d).save_pretrained(d))"
                if (self.path / "tokenizer.model").exists()
                else ""
            )
            raise UserError(f"no tokenizer.json in {self.path}{hint}")
        try:
            self._tok = _RawTokenizer.from_file(str(tokenizer_file))
        except Exception as exc:  # tokenizers raises a bare Exception on a bad file
            raise UserError(f"cannot read {tokenizer_file}: {exc}") from None
        self._file_bytes = tokenizer_file.read_bytes()
        config: dict[str, Any] = {}
        for name in ("special_tokens_map.json", "tokenizer_config.json"):
            file = self.path / name
            if file.exists():
                config.update(json.loads(file.read_text(encoding="utf-8")))
        self.config = config
        self.name = str(config.get("name_or_path") or self.path.name)
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        self.bos_token = _token_content(config.get("bos_token"))
        self.eos_token = _token_content(config.get("eos_token"))
        self.pad_token = _token_content(config.get("pad_token"))
        self.bos_token_id = self._tok.token_to_id(self.bos_token) if self.bos_token else None
        self.eos_token_id = self._tok.token_to_id(self.eos_token) if self.eos_token else None
        self.pad_token_id = self._tok.token_to_id(self.pad_token) if self.pad_token else None
        self.chat_template = self._read_chat_template(config)
        self.has_chat_template = self.chat_template is not None

    def _read_chat_template(self, config: dict[str, Any]) -> str | None:
        jinja_file = self.path / "chat_template.jinja"  # transformers v5 saves it beside the config
        if jinja_file.exists():
            return jinja_file.read_text(encoding="utf-8")
        template = config.get("chat_template")
        if isinstance(template, list):  # named templates: take "default"
            named = {t.get("name"): t.get("template") for t in template}
            return named.get("default") or next(iter(named.values()), None)
        return template

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self._tok.encode(text, add_special_tokens=add_special_tokens).ids

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        encoding = self._tok.encode(text, add_special_tokens=False)
        return encoding.ids, [tuple(o) for o in encoding.offsets]

    def encode_batch(self, texts: Sequence[str], add_special_tokens: bool = False) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=add_special_tokens)]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def apply_chat_template(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        if self.chat_template is None:
            raise UserError(f"tokenizer in {self.path} has no chat template; use the base template instead")
        specials = {
            k: _token_content(v)
            for k, v in self.config.items()
            if k.endswith("_token") and isinstance(_token_content(v), str)
        }
        return render_chat_template(self.chat_template, messages, add_generation_prompt, **specials)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self._file_bytes)
        digest.update((self.chat_template or "").encode())
        return "hf-" + digest.hexdigest()[:16]


def render_chat_template(
    template: str, messages: Sequence[Message], add_generation_prompt: bool = True, **extra: Any
) -> str:
    """Render a Hugging Face style jinja chat template the way transformers does."""
    return _compile_template(template).render(
        messages=list(messages), add_generation_prompt=add_generation_prompt, **extra
    )


_TEMPLATE_CACHE: dict[str, Any] = {}


def _compile_template(template: str) -> Any:
    if template not in _TEMPLATE_CACHE:
        from jinja2.exceptions import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
        env.globals["raise_exception"] = raise_exception
        _TEMPLATE_CACHE[template] = env.from_string(template)
    return _TEMPLATE_CACHE[template]


def load_tokenizer(spec: str | Path) -> Tokenizer:
    """`"byte"` -> ByteTokenizer; a directory with tokenizer.json -> HFTokenizer."""
    if str(spec) == "byte":
        return ByteTokenizer()
    path = Path(spec)
    if not path.is_dir():
        raise UserError(f"tokenizer {str(spec)!r} is neither 'byte' nor a local directory")
    return HFTokenizer(path)
