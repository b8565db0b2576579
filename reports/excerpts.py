"""Prompt excerpts for the RULER drill-down, rebuilt from the run rather than stored.

Runs do not keep prompts (500 samples x 13 tasks at 256K would be gigabytes). Every sample record keeps what the
pure RULER generator needs to rebuild it without searching or counting: its id (task, length, seed, index), the
haystack size `units` and `prompt_tokens`; the run's config names the template, haystack file and QA data, and its
provenance the tokenizer. The rebuilt sample is accepted only when its SHA-256 equals the record's `sample_sha256`,
so an excerpt is exactly what the model saw or is not shown at all (with the reason). Nothing is written anywhere.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from jamba_eval.errors import UserError

log = logging.getLogger(__name__)

BEFORE, AFTER, QUESTION = 320, 320, 360  # characters shown around the needle and at the end of the prompt


@dataclasses.dataclass
class Excerpt:
    """The prompt around the first occurrence of the first reference, and its end (the question)."""

    before: str = ""
    match: str = ""
    after: str = ""
    offset: int | None = None  # character offset of the match in the prompt
    prompt_chars: int = 0
    question: str = ""
    error: str | None = None

    @property
    def depth(self) -> float | None:
        return None if self.offset is None or not self.prompt_chars else self.offset / self.prompt_chars


def excerpt_of(prompt: str, references: list[str]) -> Excerpt:
    """Cut the excerpt out of a prompt: the context of the first reference found, then the prompt's last lines."""
    lowered = prompt.casefold()
    where, found = -1, ""
    for reference in references:
        where = lowered.find(str(reference).casefold()) if str(reference).strip() else -1
        if where >= 0:
            found = prompt[where : where + len(str(reference))]
            break
    question = prompt[-QUESTION:]
    if where < 0:
        return Excerpt(before=prompt[: BEFORE + AFTER], prompt_chars=len(prompt), question=question)
    start = max(0, where - BEFORE)
    end = where + len(found)
    return Excerpt(
        before=("…" if start else "") + prompt[start:where],
        match=found,
        after=prompt[end : end + AFTER] + ("…" if end + AFTER < len(prompt) else ""),
        offset=where,
        prompt_chars=len(prompt),
        question=("…" if len(prompt) > QUESTION else "") + question,
    )


def hub_snapshot(repo_id: str) -> Path | None:
    """The newest local snapshot of a Hugging Face hub model (`org/name`) holding a tokenizer.json, if any."""
    if repo_id.count("/") != 1 or Path(repo_id).exists():
        return None
    home = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~/.cache"), "huggingface"), "hub"
    )
    snapshots = Path(home) / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/tokenizer.json"), key=lambda p: p.stat().st_mtime) if snapshots.is_dir() else []
    return found[-1].parent if found else None


class PromptRebuilder:
    """Rebuilds the prompts of one RULER run (generators cached per task and length)."""

    def __init__(self, config: dict[str, Any], provenance: dict[str, Any]):
        self.config = config
        self.provenance = provenance
        self._tokenizer: Any = None
        self._problem: str | None = None
        self._generators: dict[tuple[str, int], Any] = {}

    def _load_tokenizer(self) -> Any:
        from jamba_eval.tokenizer import ByteTokenizer, HFTokenizer, load_tokenizer

        model = self.config.get("model") or {}
        args = model.get("model_args") or {}
        recorded = ((self.provenance.get("runner") or {}) if isinstance(self.provenance, dict) else {}).get("tokenizer")
        if args.get("tokenizer"):
            return load_tokenizer(str(args["tokenizer"]))
        if model.get("runner") == "mock" or recorded == "byte":
            return ByteTokenizer()
        for path in (Path(str(model.get("model", ""))), hub_snapshot(str(model.get("model", "")))):
            if path is not None and (path / "tokenizer.json").is_file():
                return HFTokenizer(path)
        raise LookupError(f"the tokenizer of {model.get('model')!r} ({recorded or 'unknown'}) is not available here")

    def _generator(self, task: str, length: int) -> Any:
        from jamba_eval.ruler.dataset import make_generator
        from jamba_eval.ruler.haystack import load_corpus
        from jamba_eval.ruler.qa_data import find_qa_data
        from jamba_eval.ruler.tasks import TASKS
        from jamba_eval.ruler.templates import PromptTemplate

        key = (task, length)
        if key not in self._generators:
            if self._tokenizer is None:
                self._tokenizer = self._load_tokenizer()
            spec = TASKS[task]
            corpus = qa = None
            if spec.args.get("type_haystack") == "essay":
                haystack = self.config.get("haystack_file")
                corpus = load_corpus(str(haystack) if haystack else None)
            if spec.kind == "qa":
                qa_dir = self.config.get("qa_data")
                qa = find_qa_data(spec.args["dataset"], Path(qa_dir) if qa_dir else None)
                if qa is None:
                    raise LookupError(f"the {spec.args['dataset']} data used by the run is not available here")
            template = PromptTemplate(str(self.config.get("template", "base")), self._tokenizer)
            self._generators[key] = make_generator(
                spec,
                self._tokenizer,
                template,
                length,
                int(self.config.get("seed", 42)),
                verify=str(self.config.get("verify", "first")),
                corpus=corpus,
                qa=qa,
            )
        return self._generators[key]

    def prompt(self, record: dict[str, Any]) -> str:
        """The exact prompt of a sample record (input + answer prefix), or an exception saying why not."""
        if self._problem:
            raise LookupError(self._problem)
        try:
            generator = self._generator(str(record["task"]), int(record["length"]))
        except (LookupError, UserError) as exc:
            self._problem = str(exc).strip("'\"")  # the same for every sample of the run: say it once, stop trying
            raise LookupError(self._problem) from None
        sample = generator.sample(
            int(record["index"]), units=int(record["units"]), prompt_tokens=int(record["prompt_tokens"])
        )
        if record.get("sample_sha256") and sample.sha256() != record["sample_sha256"]:
            raise LookupError("the rebuilt prompt differs from the one the run scored (other code, data or tokenizer)")
        return sample.prompt

    def excerpt(self, record: dict[str, Any]) -> Excerpt:
        try:
            prompt = self.prompt(record)
        except (LookupError, KeyError, ValueError, OSError, ImportError) as exc:
            return Excerpt(error=f"prompt not shown: {exc}")
        except Exception as exc:  # a generator failing on odd input must not take the report down
            log.warning("could not rebuild the prompt of %s: %s", record.get("id"), exc)
            return Excerpt(error=f"prompt not shown: {type(exc).__name__}: {exc}")
        return excerpt_of(prompt, [str(r) for r in record.get("references") or []])
