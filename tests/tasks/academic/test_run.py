import json
import subprocess
import sys

import pytest

from jamba_eval.config import ModelConfig
from jamba_eval.errors import UserError
from jamba_eval.results import RunDir
from jamba_eval.tasks.academic import AcademicConfig, run_academic

pytest.importorskip("lm_eval")


def _config(local_tasks, tmp_path, **kw):
    return AcademicConfig(
        model=ModelConfig(runner="mock", model="Paris"),
        tasks=["toy_mc", "toy_gen", "toy_ppl"],
        include_path=local_tasks,
        output_dir=tmp_path / "run",
        offline=True,
        **kw,
    )


def test_run_writes_lm_eval_results_untouched_and_resumes(local_tasks, tmp_path, monkeypatch):
    summary = run_academic(_config(local_tasks, tmp_path))
    run = RunDir.load(tmp_path / "run")
    assert run.config_record["status"] == "complete"
    rows = {row["task"]: row for row in summary["tasks"]}
    assert set(rows) == {"toy_mc", "toy_gen", "toy_ppl"}
    raw = json.loads((run.path / "lm_eval" / "toy_mc-default.json").read_text())
    assert {"results", "configs", "versions", "n-shot", "higher_is_better", "n-samples"} <= set(raw)
    assert rows["toy_mc"]["value"] == pytest.approx(100 * raw["results"]["toy_mc"]["acc,none"])
    # the mock answers "Paris": exact match only where the reference is "Paris" (none of the toy answers)
    assert rows["toy_gen"]["value"] == 0.0
    samples = list(run.samples().records())
    assert len(samples) == 18 and {s["task"] for s in samples} == {"toy_mc", "toy_gen", "toy_ppl"}

    import lm_eval

    def must_not_run(*args, **kwargs):
        raise AssertionError("finished tasks must not be evaluated again")

    monkeypatch.setattr(lm_eval, "simple_evaluate", must_not_run)
    again = run_academic(_config(local_tasks, tmp_path))
    assert again["tasks"] == summary["tasks"]


def test_missing_data_offline_is_one_clear_error(local_tasks, tmp_path):
    config = _config(local_tasks, tmp_path)
    config.tasks = ["toy_missing"]
    with pytest.raises(UserError, match="nobody/not-a-real-dataset-xyz.*not available offline"):
        run_academic(config)
    config.tasks = ["definitely_not_a_task"]
    with pytest.raises(UserError, match="unknown lm-eval task"):
        run_academic(config)


def test_cli_end_to_end_and_missing_data_without_traceback(local_tasks, tmp_path):
    base = [
        sys.executable,
        "-m",
        "jamba_eval",
        "run",
        "academic",
        "--runner",
        "mock",
        "--model",
        "x",
        "--include-path",
        str(local_tasks),
        "--output-dir",
        str(tmp_path / "cli"),
    ]
    ok = subprocess.run(
        [*base, "--tasks", "toy_mc"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "HF_DATASETS_OFFLINE": "1"},
    )
    assert ok.returncode == 0, ok.stderr
    assert "toy_mc" in ok.stdout
    bad = subprocess.run(
        [*base[:-1], str(tmp_path / "cli2"), "--tasks", "toy_missing"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "HF_DATASETS_OFFLINE": "1"},
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "not-a-real-dataset-xyz" in bad.stderr
