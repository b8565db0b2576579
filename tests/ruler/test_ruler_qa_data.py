"""QA data: RULER's readers over SQuAD v2 / HotpotQA files, and the Hugging Face cache read offline."""

import json

import pytest

from jamba_eval.errors import UserError
from jamba_eval.ruler.qa_data import find_qa_data


def test_squad_reader_keeps_answerable_questions_and_article_paragraphs(qa_files):
    data = find_qa_data("squad", qa_files[0])
    assert data.dataset == "squad" and len(data.docs) == 120 and len(data.items) == 120  # unanswerable dropped
    assert data.docs == sorted(data.docs)
    item = data.items[0]
    assert len(item.context) == 1 and len(item.more) == 9 and item.context[0] not in item.more
    assert len(item.outputs) == 2  # every answer text, duplicates kept as RULER does
    assert len(data.sha256) == 64


def test_hotpot_reader_uses_all_ten_paragraphs(qa_files):
    data = find_qa_data("hotpotqa", qa_files[0])
    assert len(data.items) == 20 and all(len(i.context) == 10 and not i.more for i in data.items)
    assert data.docs[data.items[0].context[0]].startswith("Title 0-0\n")


def test_missing_data_is_none_or_a_clear_error(tmp_path):
    assert find_qa_data("squad", tmp_path) is None
    with pytest.raises(UserError, match="is not a directory"):
        find_qa_data("squad", tmp_path / "nope")
    (tmp_path / "dev-v2.0.json").write_text(json.dumps({"data": [{"title": "t"}]}))
    with pytest.raises(UserError, match="does not look like squad data"):
        find_qa_data("squad", tmp_path)


def _write_arrow(path, rows):
    import pyarrow as pa

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)


def test_the_hugging_face_cache_is_read_offline(tmp_path, monkeypatch, qa_files):
    pytest.importorskip("pyarrow")
    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    assert find_qa_data("squad", None) is None
    squad = json.loads((qa_files[0] / "dev-v2.0.json").read_text())
    rows = [
        {"id": qa["id"], "title": article["title"], "context": p["context"], "question": qa["question"],
         "answers": {"text": [a["text"] for a in qa["answers"]], "answer_start": [0] * len(qa["answers"])}}
        for article in squad["data"] for p in article["paragraphs"] for qa in p["qas"]
    ]  # fmt: skip
    _write_arrow(cache / "rajpurkar___squad_v2/squad_v2/0.0.0/abc/squad_v2-validation.arrow", rows)
    hotpot = json.loads((qa_files[0] / "hotpot_dev_distractor_v1.json").read_text())
    rows = [
        {"id": r["_id"], "question": r["question"], "answer": r["answer"],
         "context": {"title": [t for t, _ in r["context"]], "sentences": [s for _, s in r["context"]]}}
        for r in hotpot
    ]  # fmt: skip
    _write_arrow(cache / "hotpotqa___hotpot_qa/distractor/0.0.0/def/hotpot_qa-validation.arrow", rows)
    for dataset in ("squad", "hotpotqa"):
        from_cache, from_file = find_qa_data(dataset, None), find_qa_data(dataset, qa_files[0])
        assert from_cache.source.startswith("Hugging Face cache")
        assert from_cache.docs == from_file.docs and from_cache.items == from_file.items
