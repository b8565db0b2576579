"""RULER's task templates and answer prefixes, the model templates that wrap them, and how the two compose.

The strings are RULER's (NVIDIA/RULER `scripts/data/synthetic/constants.py` and `scripts/data/template.py`),
reproduced exactly because scores depend on them; see reference/ruler.md §1.4-1.5. As in RULER's `prepare.py`, the
full prompt is `model_template.format(task_template=task_template) + answer_prefix`; the answer prefix is then cut
off into its own field (found with `rfind` of its first 10 characters) and re-appended at inference.

`--template` is `base` (no wrapping), `chat` (the tokenizer's own chat template, with the task as one user
message and the answer prefix appended after the assistant marker), or one of RULER's named templates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from jamba_eval.errors import ConfigError, UserError
from jamba_eval.tokenizer import Tokenizer

TASK_TEMPLATES = {
    "niah": (
        "Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. "
        "I will quiz you about the {type_needle_v} afterwards.\n{context}\n"
        "What are all the special magic {type_needle_v} for {query} mentioned in the provided text?"
    ),
    "variable_tracking": (
        "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n{context}\n"
        "Question: Find all variables that are assigned the value {query} in the text above."
    ),
    "common_words_extraction": (
        "Below is a numbered list of words. In these words, some appear more often than others. "
        "Memorize the ones that appear most often.\n{context}\n"
        "Question: What are the 10 most common words in the above list?"
    ),
    "freq_words_extraction": (
        "Read the following coded text and track the frequency of each coded word. Find the three most "
        "frequently appeared coded words. {context}\nQuestion: Do not provide any explanation. Please ignore the "
        "dots '....'. What are the three most frequently appeared words in the above coded text?"
    ),
    "qa": (
        "Answer the question based on the given documents. Only give me the answer and do not output any other "
        "words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the question based on the given "
        "documents. Only give me the answer and do not output any other words.\n\nQuestion: {query}"
    ),
}

ANSWER_PREFIXES = {
    "niah": " The special magic {type_needle_v} for {query} mentioned in the provided text are",
    "variable_tracking": (
        " Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables are "
        "assigned the value {query}, they are: "
    ),
    "common_words_extraction": " Answer: The top 10 words that appear most often in the list are:",
    "freq_words_extraction": (
        " Answer: According to the coded text above, the three most frequently appeared words are:"
    ),
    "qa": " Answer:",
}

TOKENS_TO_GENERATE = {
    "niah": 128,
    "variable_tracking": 30,
    "common_words_extraction": 120,
    "freq_words_extraction": 50,
    "qa": 32,
}

MODEL_TEMPLATES = {
    "base": "{task_template}",
    "meta-chat": "[INST] {task_template} [/INST]",
    "vicuna-chat": (
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the user's questions. USER: {task_template} ASSISTANT:"
    ),
    "lwm-chat": "You are a helpful assistant. USER: {task_template} ASSISTANT: ",
    "command-r-chat": (
        "<BOS_TOKEN><|START_OF_TURN_TOKEN|><|USER_TOKEN|>{task_template}<|END_OF_TURN_TOKEN|>"
        "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"
    ),
    "chatglm-chat": "[gMASK]sop<|user|> \n {task_template}<|assistant|> \n ",
    "RWKV": (
        "User: hi\n\nAssistant: Hi. I am your assistant and I will provide expert full response in full details. "
        "Please feel free to ask any question and I will always answer it\n\nUser: {task_template}\n\nAssistant:"
    ),
    "Phi3": "<|user|>\n{task_template}<|end|>\n<|assistant|>\n",
    "meta-llama3": (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{task_template}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    "jamba": "<|startoftext|><|bom|><|system|> <|eom|><|bom|><|user|> {task_template}<|eom|><|bom|><|assistant|>",
    "nemotron5-instruct": "<SPECIAL_10>System\n\n<SPECIAL_11>User\n{task_template}\n<SPECIAL_11>Assistant\n",
}

CHAT = "chat"
TEMPLATE_NAMES = (*MODEL_TEMPLATES, CHAT)

# Stands in for the context while templates are rendered, so that chat templates (which may contain braces of
# their own) are never passed through str.format. A private-use character no template contains.
_MARK = "\ue000"


def singularize(template: str) -> str:
    """RULER's rewrite for NIAH with one query and one value ('Some' -> 'A', 'are all'/'are' -> 'is', ...)."""
    for old, new in (("Some", "A"), ("are all", "is"), ("are", "is"), ("answers", "answer")):
        template = template.replace(old, new)
    return template


def check_template_name(name: str) -> None:
    if name not in TEMPLATE_NAMES:
        raise ConfigError(f"unknown --template {name!r}; choose base, chat, or one of: {', '.join(MODEL_TEMPLATES)}")


@dataclasses.dataclass(frozen=True)
class Frame:
    """A prompt around its context: `head + context + tail` is the sample's `input`; `answer_prefix` follows."""

    head: str
    tail: str
    answer_prefix: str

    def prompt(self, context: str) -> str:
        return self.head + context + self.tail + self.answer_prefix


class PromptTemplate:
    """Renders task templates under one model template (a RULER name, `base`, or the tokenizer's `chat`)."""

    def __init__(self, name: str, tokenizer: Tokenizer):
        check_template_name(name)
        if name == CHAT and not getattr(tokenizer, "has_chat_template", True):
            raise UserError(f"tokenizer {tokenizer.name!r} has no chat template; use --template base or a RULER name")
        self.name = name
        self.tokenizer = tokenizer

    @property
    def sends_token_ids(self) -> bool:
        """Chat prompts carry their own special tokens, so they are sent as ids (no extra BOS), as lm-eval does."""
        return self.name == CHAT

    def frame(self, kind: str, fields: Mapping[str, Any], singular: bool = False) -> Frame:
        """Head, tail and answer prefix of task `kind` with `fields` filled in (everything but the context)."""
        task_template = TASK_TEMPLATES[kind]
        answer_prefix = ANSWER_PREFIXES[kind]
        values = {**fields, "context": _MARK}
        if self.name == CHAT:
            if singular:
                task_template, answer_prefix = singularize(task_template), singularize(answer_prefix)
            content = task_template.format(**values)
            rendered = self.tokenizer.apply_chat_template([{"role": "user", "content": content}])
            full = rendered + answer_prefix.format(**values)
        else:  # RULER: wrap, append the prefix, rewrite (the whole string, as upstream does), then format
            template = MODEL_TEMPLATES[self.name].format(task_template=task_template) + answer_prefix
            if singular:
                template = singularize(template)
            full = template.format(**values)
        if full.count(_MARK) != 1:
            raise UserError(f"template {self.name!r} did not keep the task text intact; try --template base")
        head, rest = full.split(_MARK)
        cut = rest.rfind(ANSWER_PREFIXES[kind][:10])
        if cut < 0:
            raise UserError(f"template {self.name!r} lost the answer prefix of {kind}; try --template base")
        return Frame(head=head, tail=rest[:cut], answer_prefix=rest[cut:])
