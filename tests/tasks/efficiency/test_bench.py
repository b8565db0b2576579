"""The bench harness with runners whose timings and memory are known: run directory, records, arithmetic,
resume, failures, plots, config errors."""

from __future__ import annotations

import json

import pytest

from jamba_eval.cli import main
from jamba_eval.config import ModelConfig, build_config
from jamba_eval.errors import ConfigError, UserError
from jamba_eval.results import ResultsError, RunDir
from jamba_eval.tasks.efficiency.bench import BenchConfig, run_bench

pytestmark = pytest.mark.usefixtures("local_runners")


def config(tmp_path, runner="fake_runners:ScriptedRunner", **overrides) -> BenchConfig:
    values = dict(
        what="throughput",
        model={"runner": runner, "model": "scripted"},
        lengths="1k,2k",
        batch_sizes=[1, 2],
        repeats=2,
        warmup=1,
        decode_tokens=5,
        output_dir=tmp_path / "run",
        plots=False,
    )
    values.update(overrides)
    return build_config(BenchConfig, None, values)


def worker_starts(run_dir) -> int:
    return (run_dir / "worker.log").read_text().count("\n--- ") + (run_dir / "worker.log").read_text().startswith(
        "--- "
    )


def test_throughput_records_and_arithmetic(tmp_path):
    summary = run_bench(config(tmp_path))
    run = RunDir.load(tmp_path / "run")
    assert run.kind == "bench" and run.config_record["status"] == "complete"
    records = {r["id"]: r for r in run.samples().records()}
    assert sorted(records) == ["scripted/L1024/B1", "scripted/L1024/B2", "scripted/L2048/B1", "scripted/L2048/B2"]
    r = records["scripted/L2048/B2"]
    assert r["status"] == "ok" and r["prompt_tokens"] == 2 * 2048 and len(r["runs"]) == 2
    assert r["ttft_s"] == pytest.approx(2.048)  # 1 ms per prompt token
    assert r["prefill_tok_s"] == pytest.approx(2 * 2048 / 2.048)
    assert r["decode_tok_s"] == pytest.approx(2 * 4 / 0.04)  # 4 tokens after the first, 10 ms each, 2 sequences
    assert r["load"]["memory_kind"] == "rss" and r["peak_memory_bytes"] > 0
    assert len(summary["table"]) == 4 and summary["failures"] == []
    assert worker_starts(tmp_path / "run") == 1  # throughput: one process per model


def test_resume_measures_only_missing_points(tmp_path):
    run_bench(config(tmp_path))
    before = (tmp_path / "run" / "samples.jsonl").read_text()
    summary = run_bench(config(tmp_path))
    assert (tmp_path / "run" / "samples.jsonl").read_text() == before
    assert worker_starts(tmp_path / "run") == 1 and len(summary["table"]) == 4
    summary = run_bench(config(tmp_path, lengths="1k,2k,4k"))  # lengths may grow on resume
    ids = [r["id"] for r in RunDir.load(tmp_path / "run").samples().records()]
    assert len(ids) == len(set(ids)) == 6 and worker_starts(tmp_path / "run") == 2
    assert len(summary["table"]) == 6
    summary = run_bench(config(tmp_path, lengths="1k"))  # the summary follows the configured points
    assert [r["length"] for r in summary["table"]] == [1024, 1024]
    with pytest.raises(ResultsError, match="different config.*repeats"):
        run_bench(config(tmp_path, repeats=3))


def test_memory_mode_one_process_per_point_and_a_known_slope(tmp_path):
    """MemoryRunner holds 64 KiB per prompt token while decoding: the measured slope must find it."""
    per_token = 65536
    cfg = config(
        tmp_path,
        runner="fake_runners:MemoryRunner",
        what="memory",
        model={"runner": "fake_runners:MemoryRunner", "model": "mem", "model_args": {"bytes_per_token": per_token}},
        lengths="1k,2k,3k",
        batch_sizes=[1],
        repeats=1,
        warmup=0,
        sample_interval_s=0.002,
    )
    summary = run_bench(cfg)
    assert worker_starts(tmp_path / "run") == 3
    records = list(RunDir.load(tmp_path / "run").samples().records())
    assert {r["load"]["pid"] for r in records}.__len__() == 3
    assert all(r["load"]["malloc_mmap_threshold"] == "65536" for r in records)
    slopes = summary["models"][0]["slopes"]["1"]
    assert slopes["resident_memory_bytes_per_token"] == pytest.approx(per_token, rel=0.1)
    # the prefill's transient buffer is twice the cache and freed before it: the peak grows twice as fast
    assert slopes["peak_memory_bytes_per_token"] == pytest.approx(2 * per_token, rel=0.1)


def test_a_failing_point_loses_nothing_and_is_retried(tmp_path, capsys):
    cfg = config(
        tmp_path,
        runner="fake_runners:FailingRunner",
        model={"runner": "fake_runners:FailingRunner", "model": "f", "model_args": {"fail_at": 2048}},
        batch_sizes=[1],
    )
    summary = run_bench(cfg)
    assert [f["id"] for f in summary["failures"]] == ["f/L2048/B1"]
    assert "refusing 2048 tokens" in summary["failures"][0]["error"]
    run = RunDir.load(tmp_path / "run")
    assert run.config_record["status"] == "failed"
    assert [r["id"] for r in run.samples().records()] == ["f/L1024/B1"]
    # through the CLI: one line, exit 2, and the failed point is tried again
    yaml = tmp_path / "bench.yaml"
    yaml.write_text(
        json.dumps(
            {
                "model": cfg.model.__dict__,
                "lengths": [1024, 2048],
                "batch_sizes": [1],
                "repeats": 2,
                "warmup": 1,
                "decode_tokens": 5,
                "plots": False,
            }
        )
    )
    capsys.readouterr()  # drop what the library call logged (a handler left by an earlier in-process CLI call)
    with pytest.raises(SystemExit) as exit_info:
        main(["--verbosity", "error", "bench", "throughput", "--config", str(yaml), "-o", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 point(s) failed" in err[0] and "refusing 2048" in err[0]
    assert worker_starts(tmp_path / "run") == 2


def test_worker_crash_and_timeout_are_reported(tmp_path):
    summary = run_bench(config(tmp_path, model={"runner": "no_such_module:Runner", "model": "x"}, batch_sizes=[1]))
    assert len(summary["failures"]) == 2
    assert "exited with code 1" in summary["failures"][0]["error"]
    assert "No module named 'no_such_module'" in (tmp_path / "run" / "worker.log").read_text()
    slow = config(
        tmp_path,
        runner="fake_runners:MemoryRunner",
        output_dir=tmp_path / "slow",
        batch_sizes=[1],
        model={"runner": "fake_runners:MemoryRunner", "model": "m", "model_args": {"decode_s": 30}},
        point_timeout_s=3.0,
        warmup=0,
        repeats=1,
    )
    summary = run_bench(slow)
    assert summary["failures"] and "timed out" in summary["failures"][0]["error"]


def test_plots_and_multi_model_labels(tmp_path):
    cfg = config(
        tmp_path,
        model=None,
        plots=True,
        batch_sizes=[1],
        models=[
            {"runner": "fake_runners:ScriptedRunner", "model": "/a/jamba"},
            {"runner": "fake_runners:ScriptedRunner", "model": "/b/jamba"},
        ],
    )
    summary = run_bench(cfg)
    assert [m["label"] for m in summary["models"]] == ["jamba", "jamba-2"]
    assert sorted(summary["plots"]) == sorted(
        f"plots/{stem}.{ext}"
        for stem in ("throughput_vs_context", "memory_vs_context", "kv_cache_table1")
        for ext in ("png", "svg")
    )
    for name in summary["plots"]:
        data = (tmp_path / "run" / name).read_bytes()
        assert data.startswith(b"\x89PNG") if name.endswith("png") else b"<svg" in data[:2000]
    stored = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert stored["table"] == json.loads(json.dumps(summary["table"]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"what": "speed"}, "what: 'speed' is not one of throughput, memory"),
        ({"models": [{"model": "x"}]}, "either one model"),
        ({"labels": ["a", "b"]}, "labels: 2 given for 1 models"),
        ({"repeats": 0}, "repeats must be at least 1"),
        ({"batch_sizes": [0]}, "batch_sizes must be at least 1"),
        ({"lengths": "4kb"}, "invalid length '4kb'"),
        ({"decode_tokens": 0}, "decode_tokens must be at least 1"),
    ],
)
def test_config_errors(tmp_path, overrides, message):
    with pytest.raises((ConfigError, UserError), match=message):
        run_bench(config(tmp_path, **overrides))
    assert not (tmp_path / "run").exists()


def test_cli_model_options_reach_the_config(tmp_path):
    cfg = build_config(
        BenchConfig,
        None,
        {"what": "memory", "model": {"runner": "mock", "model": None, "model_args": None}, "lengths": [4096]},
    )
    assert cfg.model == ModelConfig(runner="mock", model="jamba-tiny") and cfg.lengths == [4096]
