"""The GitHub workflow files: valid against the published workflow schema (check-jsonschema's vendored copy,
offline; actionlint's PyPI wrapper downloads a binary at install time, which is not possible here), and the nightly
job does what the README promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def test_every_workflow_matches_the_github_schema():
    pytest.importorskip("check_jsonschema")
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"nightly.yml", "test.yml"}
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path):
    pytest.importorskip("check_jsonschema")
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "stepz" in result.stdout


def nightly() -> dict:
    data = yaml.safe_load((WORKFLOWS / "nightly.yml").read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def test_nightly_cpu_job_tests_benchmarks_reports_and_uploads():
    flow = nightly()
    assert flow["on"]["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]  # every day
    cpu = flow["jobs"]["cpu"]
    assert cpu["runs-on"] == "ubuntu-latest" and cpu["timeout-minutes"] <= 360
    script = "\n".join(step.get("run", "") for step in cpu["steps"])
    for command in ("make venv", "pytest --runslow", "jamba-eval run ruler --model jamba-tiny", "jamba-eval bench",
                    'jamba-eval report "$OUT"'):  # fmt: skip
        assert command in script, command
    upload = next(step for step in cpu["steps"] if str(step.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == cpu["env"]["OUT"] and "cancelled" in upload["if"]


def test_nightly_gpu_job_is_self_hosted_and_skipped_without_a_runner():
    gpu = nightly()["jobs"]["gpu"]
    assert "self-hosted" in gpu["runs-on"] and "gpu" in gpu["runs-on"]
    assert "vars.HAS_GPU_RUNNER == 'true'" in gpu["if"] and "inputs.gpu" in gpu["if"]
    script = "\n".join(step.get("run", "") for step in gpu["steps"])
    assert "--runner vllm" in script and "--max-len 256k" in script and "AI21-Jamba-1.5-Mini" in gpu["env"]["MODEL"]
