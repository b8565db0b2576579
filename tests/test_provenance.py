import subprocess
import sys
from pathlib import Path

import jamba_eval
from jamba_eval import provenance


def test_collect_records_versions_machine_and_seeds():
    info = provenance.collect(seeds={"data": 42})
    assert info["jamba_eval_version"] == jamba_eval.__version__
    assert info["packages"]["torch"]
    assert info["python"] == sys.version.split()[0]
    assert info["device"] in ("cpu", "cuda")
    assert info["torch_threads"] >= 1
    assert info["seeds"] == {"data": 42}
    assert "vllm" not in info["packages"] or info["packages"]["vllm"]


def test_git_commit_is_the_package_checkout_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a git checkout
    provenance.git_info.cache_clear()
    info = provenance.git_info()
    package_root = Path(jamba_eval.__file__).resolve().parents[1]
    expected = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package_root, capture_output=True, text=True)
    if expected.returncode == 0:
        assert info["commit"] == expected.stdout.strip()
        assert isinstance(info["dirty"], bool)
    else:  # installed from a wheel or unpacked archive
        assert info["commit"] is None


def test_git_info_outside_a_checkout(tmp_path):
    provenance.git_info.cache_clear()
    try:
        assert provenance.git_info(str(tmp_path)) == {"commit": None, "dirty": None, "root": None}
    finally:
        provenance.git_info.cache_clear()
