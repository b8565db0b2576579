"""End to end on the embedded default model (our Jamba, `--runner torch --model jamba-tiny`), through the CLI.

Skipped until the model and the torch runner are merged; the 256K sweep is `slow`.
"""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("jamba_eval.model.generate")
pytest.importorskip("jamba_eval.runners.torch_runner")


def run_cli(tmp_path, *args, timeout):
    env = {**os.environ, "JAMBA_EVAL_CACHE": str(tmp_path / "cache"), "JAMBA_EVAL_NO_PROGRESS": "1"}
    command = [sys.executable, "-m", "jamba_eval", "run", "ruler", "--runner", "torch", "--model", "jamba-tiny", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def check_run_dir(out, tasks, lengths, samples):
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] and summary["lengths"] == lengths and summary["tasks"] == tasks
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == len(tasks) * len(lengths) * samples
    for row in rows:
        assert row["prompt_tokens"] + {"niah_single_1": 128, "vt": 30, "fwe": 50}[row["task"]] <= row["length"]
        assert 0.0 <= row["score"] <= 100.0 and isinstance(row["prediction"], str)
    assert json.loads((out / "config.json").read_text())["status"] == "complete"
    return summary


def test_jamba_tiny_short_run(tmp_path):
    out = tmp_path / "run"
    result = run_cli(
        tmp_path, "--lengths", "4k", "--tasks", "niah_single_1,vt", "--samples", "1", "--output-dir", str(out),
        timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    check_run_dir(out, ["niah_single_1", "vt"], [4096], 1)
    rerun = run_cli(tmp_path, "--lengths", "4k", "--tasks", "niah_single_1,vt", "--samples", "1",
                    "--output-dir", str(out), timeout=900)  # fmt: skip
    assert rerun.returncode == 0 and len((out / "samples.jsonl").read_text().splitlines()) == 2  # nothing redone


@pytest.mark.slow
def test_jamba_tiny_to_256k(tmp_path):
    out = tmp_path / "run"
    result = run_cli(
        tmp_path, "--max-len", "256k", "--tasks", "niah_single_1,fwe", "--samples", "1", "--output-dir", str(out),
        timeout=3600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    check_run_dir(out, ["niah_single_1", "fwe"], [4096 * 2**i for i in range(7)], 1)
