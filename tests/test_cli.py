import subprocess
import sys

import pytest

from jamba_eval.cli import hoist_global_options, main
from jamba_eval.errors import MissingExtraError, NotAvailableYet
from jamba_eval.registry import RUNNERS, Registry, call


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "jamba_eval", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_the_command_tree():
    out = run_cli("--help").stdout
    for command in ("run", "bench", "memory", "report", "serve", "list", "arena"):
        assert command in out
    run_help = run_cli("run", "--help").stdout
    for command in ("ruler", "academic", "arena"):
        assert command in run_help
    bench_help = run_cli("bench", "--help").stdout
    assert "throughput" in bench_help and "memory" in bench_help


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("jamba-eval 0.")


def test_bad_length_is_one_clear_line_and_exit_2():
    result = run_cli("run", "ruler", "--max-len", "256kb")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "256kb" in lines[0] and "4k" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--verbosity", "debug", "--no-progress", "list", "runners"],
        ["list", "runners", "--verbosity", "debug", "--no-progress"],
        ["list", "--verbosity=warning", "runners"],
    ],
)
def test_global_options_before_or_after_the_subcommand(args):
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "torch" in result.stdout


def test_bad_verbosity():
    result = run_cli("--verbosity", "loud", "list")
    assert result.returncode == 2 and "loud" in result.stderr


def test_hoist_keeps_everything_after_double_dash():
    assert hoist_global_options(["run", "ruler", "--no-progress", "--", "--no-progress"]) == [
        "--no-progress",
        "run",
        "ruler",
        "--",
        "--no-progress",
    ]


def test_not_available_yet_is_exit_2_without_traceback(monkeypatch, capsys):
    import jamba_eval.cli as cli

    monkeypatch.setattr(cli, "_call", lambda *a, **k: call("jamba_eval.not_built_yet:main", "jamba-eval thing"))
    with pytest.raises(SystemExit) as info:
        main(["report", "somewhere"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip() == "jamba-eval: error: jamba-eval thing is not available yet"


def test_registry_missing_extra_and_unknown_names():
    registry = Registry("runner")
    registry.register("fake", "jamba_eval.tests_fake_runner:Runner", extra="vllm")
    registry.register("needs-pkg", "json:nope")
    with pytest.raises(NotAvailableYet):
        registry.load("fake")
    with pytest.raises(NotAvailableYet):
        registry.load("needs-pkg")
    with pytest.raises(Exception, match="choose one of"):
        RUNNERS.entry("nonsense")


def test_missing_third_party_module_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "needs_missing_dep.py").write_text("import surely_not_installed_pkg\nRunner = object\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("runner")
    registry.register("x", "needs_missing_dep:Runner", extra="vllm")
    with pytest.raises(MissingExtraError, match=r"pip install 'jamba-eval\[vllm\]'"):
        registry.load("x")
