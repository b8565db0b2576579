"""SQuAD v2 dev and HotpotQA dev-distractor for RULER's qa_1 / qa_2, read as RULER's `qa.py` reads them.

Sources, first found wins: `--qa-data DIR` holding `dev-v2.0.json` / `hotpot_dev_distractor_v1.json` (or RULER's
names `squad.json` / `hotpotqa.json`), else the Hugging Face datasets cache (`rajpurkar/squad_v2` validation,
`hotpotqa/hotpot_qa` distractor validation) read straight from its Arrow files, never from the network.

- SQuAD: documents are the unique paragraphs (sorted); each answerable question brings its own paragraph plus the
  other paragraphs of the same article; references are all its answer texts.
- HotpotQA: documents are "title\\nsentences" of every context paragraph (sorted, unique); each question brings
  its 10 paragraphs (gold and distractors); the reference is its answer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from jamba_eval.errors import UserError

log = logging.getLogger(__name__)

FILES = {
    "squad": ("dev-v2.0.json", "squad.json"),
    "hotpotqa": ("hotpot_dev_distractor_v1.json", "hotpotqa.json"),
}
HF_NAMES = {"squad": ("squad_v2",), "hotpotqa": ("hotpot_qa",)}


@dataclasses.dataclass
class QaItem:
    query: str
    outputs: list[str]
    context: list[int]  # its own documents (indices into QaData.docs)
    more: list[int]  # SQuAD: the other paragraphs of its article


@dataclasses.dataclass
class QaData:
    dataset: str
    source: str
    docs: list[str]
    items: list[QaItem]
    sha256: str
    token_counts: dict[str, Any] = dataclasses.field(default_factory=dict)  # tokenizer fingerprint -> counts


def squad_items(articles: list[tuple[str, list[dict[str, Any]]]]) -> tuple[list[str], list[QaItem]]:
    """`articles`: (title, paragraphs) with SQuAD paragraph dicts {"context", "qas": [...]}."""
    docs = sorted({p["context"] for _, paragraphs in articles for p in paragraphs})
    index = {doc: i for i, doc in enumerate(docs)}
    items = []
    for _, paragraphs in articles:
        article_docs = [index[p["context"]] for p in paragraphs]
        for p in paragraphs:
            own = index[p["context"]]
            for qa in p["qas"]:
                if qa.get("is_impossible") or not qa["answers"]:
                    continue
                more = [i for i in article_docs if i != own]
                items.append(QaItem(qa["question"], [a["text"] for a in qa["answers"]], [own], more))
    return docs, items


def hotpot_items(records: list[dict[str, Any]]) -> tuple[list[str], list[QaItem]]:
    """`records`: HotpotQA dicts {"question", "answer", "context": [[title, [sentences]], ...]}."""

    def text(title: str, sentences: list[str]) -> str:
        return f"{title}\n{''.join(sentences)}"

    docs = sorted({text(t, s) for r in records for t, s in r["context"]})
    index = {doc: i for i, doc in enumerate(docs)}
    items = [QaItem(r["question"], [r["answer"]], [index[text(t, s)] for t, s in r["context"]], []) for r in records]
    return docs, items


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read QA file {path}: {exc}") from None


def _from_file(dataset: str, path: Path) -> QaData:
    data = _read_json(path)
    try:
        if dataset == "squad":
            articles = [(a.get("title", ""), a["paragraphs"]) for a in data["data"]]
            docs, items = squad_items(articles)
        else:
            docs, items = hotpot_items(data)
    except (KeyError, TypeError) as exc:
        raise UserError(f"{path} does not look like {dataset} data (missing {exc})") from None
    if not items:
        raise UserError(f"{path} holds no answerable questions")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return QaData(dataset, str(path), docs, items, digest)


def _hf_cache_dirs() -> list[Path]:
    if os.environ.get("HF_DATASETS_CACHE"):
        return [Path(os.environ["HF_DATASETS_CACHE"])]
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface"
    )
    return [Path(home) / "datasets"]


def _hf_arrow_files(dataset: str) -> list[Path]:
    found: list[Path] = []
    for root in _hf_cache_dirs():
        if not root.is_dir():
            continue
        for name in HF_NAMES[dataset]:
            for folder in sorted(root.glob(f"*{name}*")):
                files = sorted(
                    p for p in folder.rglob("*-validation*.arrow") if dataset != "hotpotqa" or "distractor" in str(p)
                )
                if files:
                    # one dataset version: the files of the first directory that holds them
                    parent = files[0].parent
                    return [p for p in files if p.parent == parent]
    return found


def _read_arrow(paths: list[Path]) -> list[dict[str, Any]]:
    import pyarrow as pa

    rows: list[dict[str, Any]] = []
    for path in paths:
        with pa.memory_map(str(path)) as source:
            try:
                table = pa.ipc.open_stream(source).read_all()
            except pa.ArrowInvalid:
                table = pa.ipc.open_file(source).read_all()
        rows += table.to_pylist()
    return rows


def _from_hf_cache(dataset: str) -> QaData | None:
    files = _hf_arrow_files(dataset)
    if not files:
        return None
    try:
        rows = _read_arrow(files)
    except ImportError:
        log.debug("pyarrow is not installed; not reading the Hugging Face cache for %s", dataset)
        return None
    if dataset == "squad":
        by_title: dict[str, dict[str, dict[str, Any]]] = {}
        for r in rows:
            paragraphs = by_title.setdefault(r["title"], {})
            paragraph = paragraphs.setdefault(r["context"], {"context": r["context"], "qas": []})
            texts = r["answers"]["text"]
            paragraph["qas"].append({"question": r["question"], "answers": [{"text": t} for t in texts]})
        docs, items = squad_items([(t, list(p.values())) for t, p in by_title.items()])
    else:
        records = [
            {
                "question": r["question"],
                "answer": r["answer"],
                "context": list(zip(r["context"]["title"], r["context"]["sentences"], strict=True)),
            }
            for r in rows
        ]
        docs, items = hotpot_items(records)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    return QaData(dataset, f"Hugging Face cache ({files[0].parent})", docs, items, digest.hexdigest())


def find_qa_data(dataset: str, qa_dir: Path | None) -> QaData | None:
    """The dataset from `qa_dir` (required to hold it when given), else the HF cache, else None."""
    if qa_dir is not None:
        qa_dir = Path(qa_dir)
        if not qa_dir.is_dir():
            raise UserError(f"--qa-data {qa_dir} is not a directory")
        for name in FILES[dataset]:
            if (qa_dir / name).is_file():
                return _from_file(dataset, qa_dir / name)
        return None
    return _from_hf_cache(dataset)
