import json
import os
import signal
import subprocess
import sys
import time

import pytest

from jamba_eval.results import ResultsError, RunDir, SampleLog, find_run_dirs, read_json, write_json_atomic

CONFIG = {"model": {"runner": "torch", "model": "jamba-tiny"}, "samples": 4, "batch_size": 1}


def test_append_and_resume(tmp_path):
    with RunDir.open(tmp_path / "run", "ruler", CONFIG, {"seed": 1}) as run:
        log = run.samples()
        for i in range(3):
            log.append({"id": f"s{i}", "score": i})
        with pytest.raises(ValueError, match="already"):
            log.append({"id": "s1"})
    with RunDir.open(tmp_path / "run", "ruler", CONFIG) as run:
        assert run.resumed
        assert run.done_ids() == {"s0", "s1", "s2"}
        run.samples().append({"id": "s3"})
        assert [r["id"] for r in run.samples().records()] == ["s0", "s1", "s2", "s3"]
        record = run.config_record
        assert record["kind"] == "ruler" and len(record["sessions"]) == 2


def test_lines_are_on_disk_before_close(tmp_path):
    log = SampleLog(tmp_path / "samples.jsonl")
    log.append({"id": "a", "text": "ünïcode"})
    assert json.loads((tmp_path / "samples.jsonl").read_text(encoding="utf-8")) == {"id": "a", "text": "ünïcode"}
    log.close()


def test_torn_last_line_is_dropped_and_resume_continues(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "pred')
    log = SampleLog(path)
    assert log.done_ids == {"a", "b"} and log.dropped_torn_line
    log.append({"id": "c"})
    log.close()
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["a", "b", "c"]


def test_torn_line_that_happens_to_end_a_valid_prefix(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}')  # complete JSON but no newline: the write did not finish
    log = SampleLog(path)
    assert log.done_ids == {"a"}
    log.append({"id": "b"})
    log.close()
    assert path.read_text() == '{"id": "a"}\n{"id": "b"}\n'


def test_damage_in_the_middle_is_an_error_not_a_silent_loss(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"id": "a"}\ngarbage\n{"id": "c"}\n')
    with pytest.raises(ResultsError, match="line 2"):
        SampleLog(path)
    assert path.read_text() == '{"id": "a"}\ngarbage\n{"id": "c"}\n'  # nothing was cut


def test_readonly_load_never_modifies(tmp_path):
    with RunDir.open(tmp_path / "run", "ruler", CONFIG) as run:
        run.samples().append({"id": "a"})
    samples = tmp_path / "run" / "samples.jsonl"
    with open(samples, "a") as f:
        f.write('{"id": "b", "x"')
    before = samples.read_bytes()
    run = RunDir.load(tmp_path / "run")
    assert run.done_ids() == {"a"}
    assert samples.read_bytes() == before
    with pytest.raises(ResultsError, match="read-only"):
        run.write_summary({"x": 1})


def test_summary_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    write_json_atomic(path, {"v": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_json_atomic(path, {"v": 2})
    assert read_json(path) == {"v": 1}  # the old file is intact


def test_config_mismatch_refuses_to_mix_experiments(tmp_path):
    with RunDir.open(tmp_path / "run", "ruler", CONFIG):
        pass
    changed = {**CONFIG, "model": {"runner": "torch", "model": "other"}}
    with pytest.raises(ResultsError, match="model.model"):
        RunDir.open(tmp_path / "run", "ruler", changed)
    faster = {**CONFIG, "batch_size": 8}
    with RunDir.open(tmp_path / "run", "ruler", faster, volatile=("batch_size",)) as run:
        assert run.config["batch_size"] == 8
    with pytest.raises(ResultsError, match="not 'arena'"):
        RunDir.open(tmp_path / "run", "arena", CONFIG)
    with pytest.raises(ResultsError, match="already holds a run"):
        RunDir.open(tmp_path / "run", "ruler", CONFIG, resume=False)


def test_second_writer_is_refused(tmp_path):
    with RunDir.open(tmp_path / "run", "ruler", CONFIG), pytest.raises(ResultsError, match="in use"):
        RunDir.open(tmp_path / "run", "ruler", CONFIG)


def test_status_on_failure(tmp_path):
    with pytest.raises(RuntimeError), RunDir.open(tmp_path / "run", "ruler", CONFIG):
        raise RuntimeError("model exploded")
    record = RunDir.load(tmp_path / "run").config_record
    assert record["status"] == "failed" and "model exploded" in record["error"]


def test_killed_writer_resumes_without_loss(tmp_path):
    """A real SIGKILL mid-run: every line on disk survives, a torn one (if any) is dropped, ids never repeat."""
    script = (
        "import sys\n"
        "from jamba_eval.results import RunDir\n"
        "run = RunDir.open(sys.argv[1], 'ruler', {'x': 1})\n"
        "log = run.samples()\n"
        "i = len(log)\n"
        "while True:\n"
        "    sample_id = f's{i}'\n"
        "    if sample_id not in log:\n"
        "        log.append({'id': sample_id, 'pad': 'x' * 5000})\n"
        "    i += 1\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "run")])
    deadline = time.time() + 30
    samples = tmp_path / "run" / "samples.jsonl"
    while time.time() < deadline and (not samples.exists() or samples.stat().st_size < 200_000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with RunDir.open(tmp_path / "run", "ruler", {"x": 1}) as run:
        done = run.done_ids()
        assert len(done) >= 10
        assert done == {f"s{i}" for i in range(len(done))}
        run.samples().append({"id": f"s{len(done)}"})
    ids = [json.loads(line)["id"] for line in samples.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == len(done) + 1


def test_find_run_dirs(tmp_path):
    for name in ("a", "b/c"):
        with RunDir.open(tmp_path / name, "ruler", CONFIG):
            pass
    assert find_run_dirs([tmp_path]) == [tmp_path / "a", tmp_path / "b" / "c"]
    assert find_run_dirs([tmp_path / "a"]) == [tmp_path / "a"]
    with pytest.raises(ResultsError, match="not a run directory"):
        RunDir.load(tmp_path / "b")
