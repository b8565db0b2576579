"""`jamba-eval run ruler` as a real subprocess: output, YAML config, one-line errors, and kill-and-resume."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

# Runs the real CLI (jamba_eval.cli.main) with the mock runner slowed down, logging the hash of every prompt asked.
WRAPPER = textwrap.dedent(
    """
    import hashlib, os, sys, time
    from jamba_eval.runners.mock import MockRunner

    generate = MockRunner.generate

    def slow_generate(self, requests):
        with open(os.environ["ASKED_LOG"], "a") as log:
            for request in requests:
                log.write(hashlib.sha256(request.prompt.encode()).hexdigest() + "\\n")
        time.sleep(float(os.environ.get("MOCK_DELAY", "0")) * len(requests))
        return generate(self, requests)

    MockRunner.generate = slow_generate
    from jamba_eval.cli import main

    main(sys.argv[1:])
    """
)


def cli(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "jamba_eval", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "JAMBA_EVAL_CACHE": str(tmp_path / "cache"), "JAMBA_EVAL_NO_PROGRESS": "1"}


def test_cli_runs_with_the_mock_runner_and_prints_the_table(tmp_path, env):
    out = tmp_path / "run"
    result = cli(
        "run", "ruler", "--runner", "mock", "--model", "1234567", "--lengths", "4k,8k", "--samples", "2",
        "--tasks", "niah_single_1,vt,fwe", "--output-dir", str(out), "--batch-size", "3", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "niah_single_1" in result.stdout and "mean of 3 tasks" in result.stdout
    assert "Effective length" in result.stdout and "<4K" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["lengths"] == [4096, 8192] and summary["finished"]
    rows = (out / "samples.jsonl").read_text().splitlines()
    assert len(rows) == 3 * 2 * 2
    assert all(json.loads(r)["prediction"] == "1234567" for r in rows)
    stored = json.loads((out / "config.json").read_text())
    assert stored["config"]["model"] == {"runner": "mock", "model": "1234567", "model_args": {}}


def test_cli_reads_yaml_and_command_line_wins(tmp_path, env):
    config = tmp_path / "ruler.yaml"
    config.write_text("tasks: [vt]\nsamples: 3\nlengths: [4k]\nseed: 5\nmodel: {runner: mock, model: A}\n")
    out = tmp_path / "run"
    result = cli("run", "ruler", "--config", str(config), "--samples", "1", "--output-dir", str(out), env=env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(r) for r in (out / "samples.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["vt/4096/5/0"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tasks", "niah_single_9"], "unknown RULER task(s) niah_single_9"),
        (["--template", "llama"], "unknown --template 'llama'"),
        (["--lengths", "4k,lots"], "--lengths"),
        (["--tasks", "qa_1"], "qa_1 needs squad data"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, env, args, message):
    result = cli("run", "ruler", "--runner", "mock", "--output-dir", str(tmp_path / "r"), *args, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_killed_run_resumes_without_redoing_or_losing_samples(tmp_path, env):
    wrapper = tmp_path / "slow_cli.py"
    wrapper.write_text(WRAPPER)
    out = tmp_path / "run"
    args = [
        sys.executable, str(wrapper), "run", "ruler", "--runner", "mock", "--model", "42", "--lengths", "4k,8k",
        "--samples", "3", "--tasks", "niah_single_1,niah_multikey_2", "--batch-size", "1", "--output-dir", str(out),
    ]  # fmt: skip
    first_log, second_log = tmp_path / "asked1.txt", tmp_path / "asked2.txt"
    process = subprocess.Popen(
        args, env={**env, "ASKED_LOG": str(first_log), "MOCK_DELAY": "0.4"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    samples = out / "samples.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if samples.exists() and len(samples.read_text().splitlines()) >= 4:
            break
        if process.poll() is not None:
            pytest.fail(f"the run ended before it was killed: {process.stderr.read().decode()}")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    kept = [json.loads(line) for line in samples.read_text().splitlines() if line.strip()]
    assert 4 <= len(kept) < 12
    result = subprocess.run(
        args, env={**env, "ASKED_LOG": str(second_log)}, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    assert rows[: len(kept)] == kept  # nothing lost or rewritten
    assert len(rows) == 12 and len({r["id"] for r in rows}) == 12
    asked_again = set(second_log.read_text().split())
    assert not asked_again & {r["prompt_sha256"] for r in kept}  # finished samples were not redone
    assert asked_again == {r["prompt_sha256"] for r in rows[len(kept) :]}
    # the prompts of the first session are the ones a fresh generation makes: the resume changed nothing
    first_asked = first_log.read_text().split()
    assert {r["prompt_sha256"] for r in kept} <= set(first_asked)
    assert json.loads((out / "config.json").read_text())["status"] == "complete"
