"""`jamba-eval memory` and `jamba-eval list presets` through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jamba_eval.cli import main
from jamba_eval.tasks.efficiency import list_presets
from jamba_eval.tasks.efficiency.memory import GiB

PRESET_NAMES = [
    "jamba-v0.1",
    "jamba-1.5-mini",
    "jamba-1.5-large",
    "mixtral-8x7b",
    "mixtral-8x22b",
    "mistral-7b",
    "llama-2-7b",
    "llama-2-70b",
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.1-405b",
    "mistral-large-2",
]


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_presets_are_exactly_the_issue_list(capsys):
    assert [name for name, _ in list_presets()] == PRESET_NAMES
    code, out, _ = run(capsys, "list", "presets")
    assert code == 0 and "jamba-1.5-large" in out and "398B" in out


def test_json_output_for_a_preset(capsys):
    code, out, _ = run(
        capsys,
        "memory",
        "--preset",
        "jamba-v0.1",
        "--length",
        "256k",
        "--gpu-memory",
        "80GB",
        "--dtype",
        "int8",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    for key in ("kv_cache_bytes", "weight_bytes", "mamba_state_bytes", "max_context"):
        assert key in data
    assert data["kv_cache_bytes"] == 4 * GiB and data["length"] == 262144
    assert data["gpu"]["reserve_bytes_per_gpu"] == 8 * GiB  # default reserve 10%
    assert data["max_context"] >= 140 * 1024 and data["fits"] is True
    assert round(data["params_total"] / 1e9, 2) == 51.57 and round(data["params_active"] / 1e9, 2) == 12.11


def test_table_reproduces_table_1_for_several_presets(capsys):
    code, out, _ = run(
        capsys, "memory", "--preset", "llama-2-7b,mistral-7b,mixtral-8x7b,jamba-v0.1", "--length", "256k"
    )
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in PRESET_NAMES}
    assert "128.00 GiB" in rows["llama-2-7b"] and "32.00 GiB" in rows["mistral-7b"]
    assert "32.00 GiB" in rows["mixtral-8x7b"] and "4.00 GiB" in rows["jamba-v0.1"]
    assert "papers' GB are GiB" in out
    assert "beyond max_position_embeddings of: llama-2-7b, mistral-7b, mixtral-8x7b" in out


def test_table_with_gpu_states_the_reserve_and_fit(capsys):
    code, out, _ = run(
        capsys,
        "memory",
        "--preset",
        "jamba-1.5-large",
        "--dtype",
        "experts-int8",
        "--gpu-memory",
        "80GB",
        "--gpus",
        "8",
        "--reserve",
        "10%",
    )
    assert code == 0
    assert "reserve 10% per GPU (8.00 GiB)" in out and "8 x 80.00 GiB" in out
    assert "9.00 GiB" in out and " yes " in out


def test_config_json_and_batch(capsys, tmp_path):
    from jamba_eval.tasks.efficiency import preset_config

    path = tmp_path / "config.json"
    path.write_text(json.dumps(preset_config("llama-3.1-70b")))
    code, out, _ = run(capsys, "memory", "--config", str(path), "--length", "128k", "--batch", "2", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["kv_cache_bytes"] == 80 * GiB and data["max_context"] is None and data["batch"] == 2


def test_all_presets_as_json_list(capsys):
    code, out, _ = run(capsys, "memory", "--preset", "all", "--length", "4k", "--json")
    assert code == 0
    assert [d["model"] for d in json.loads(out)] == PRESET_NAMES


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--length", "4k"], "give exactly one of --preset NAME"),
        (["--preset", "gpt-5"], "unknown preset 'gpt-5'"),
        (["--preset", "jamba-v0.1", "--dtype", "int4"], "unknown --dtype 'int4'"),
        (["--preset", "jamba-v0.1", "--kv-dtype", "experts-int8"], "unknown --kv-dtype"),
        (["--preset", "jamba-v0.1", "--gpu-memory", "80"], "invalid --gpu-memory '80'"),
        (["--preset", "jamba-v0.1", "--gpu-memory", "80GB", "--reserve", "150%"], "invalid reserve '150%'"),
        (["--preset", "jamba-v0.1", "--reserve", "4GB"], "need --gpu-memory"),
        (["--preset", "jamba-v0.1", "--batch", "0"], "--batch must be"),
        (["--preset", "jamba-v0.1", "--length", "256kb"], "256kb"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    code, out, err = run(capsys, "memory", *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_config_file_through_a_real_process(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "jamba_eval", "memory", "--config", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("jamba-eval: error: cannot read model config")
