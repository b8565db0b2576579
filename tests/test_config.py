import dataclasses
from pathlib import Path

import pytest

from jamba_eval.config import (
    ModelConfig,
    build_config,
    format_length,
    from_dict,
    load_yaml,
    parse_length,
    parse_lengths,
    parse_model_args,
)
from jamba_eval.errors import ConfigError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4k", 4096),
        ("128K", 131072),
        ("256k", 262144),
        ("1m", 1048576),
        ("1M", 1048576),
        ("4096", 4096),
        ("1", 1),
        (" 8k ", 8192),
        (1000, 1000),
    ],
)
def test_parse_length_accepts(text, expected):
    assert parse_length(text) == expected


@pytest.mark.parametrize(
    "text", ["256kb", "0", "-4k", "1.5k", "", "k", "4 k", "0k", "04k", "1g", "4kk", "+4k", 0, -5, True]
)
def test_parse_length_refuses_with_one_line_that_says_what_is_accepted(text):
    with pytest.raises(ConfigError) as info:
        parse_length(text)
    message = str(info.value)
    assert "\n" not in message
    assert "4k" in message and "1m" in message
    assert str(text) in message


def test_parse_lengths_sorts_and_dedupes():
    assert parse_lengths("8k,4k,8192,1m") == [4096, 8192, 1048576]
    with pytest.raises(ConfigError):
        parse_lengths("4k,,8k")
    with pytest.raises(ConfigError):
        parse_lengths("4k,256kb")


def test_format_length_round_trips():
    for text in ("4K", "128K", "1M", "1000"):
        assert format_length(parse_length(text)) == text


def test_parse_model_args():
    args = parse_model_args("path=/ckpt,dtype=bfloat16,tp=2,util=0.9,eager=true,rev=none")
    assert args == {"path": "/ckpt", "dtype": "bfloat16", "tp": 2, "util": 0.9, "eager": True, "rev": None}
    assert parse_model_args(None) == {} and parse_model_args("") == {}
    with pytest.raises(ConfigError, match="key=value"):
        parse_model_args("dtype")
    with pytest.raises(ConfigError, match="twice"):
        parse_model_args("a=1,a=2")


@dataclasses.dataclass
class _Run:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    lengths: list[int] = dataclasses.field(default_factory=lambda: [4096], metadata={"parse": parse_lengths})
    samples: int = 500
    seed: int = 42
    template: str = "base"
    output_dir: Path | None = None


def _write(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_yaml_unknown_key_is_named(tmp_path):
    path = _write(tmp_path, "samples: 10\nsampels: 20\n")
    with pytest.raises(ConfigError, match="unknown key 'sampels'"):
        build_config(_Run, path)


def test_yaml_unknown_nested_key_is_named(tmp_path):
    path = _write(tmp_path, "model:\n  runner: torch\n  modle: x\n")
    with pytest.raises(ConfigError, match="unknown key 'modle'"):
        build_config(_Run, path)


def test_yaml_type_errors_and_syntax_errors(tmp_path):
    with pytest.raises(ConfigError, match="samples: expected an integer"):
        build_config(_Run, _write(tmp_path, "samples: many\n"))
    with pytest.raises(ConfigError, match="invalid YAML .* line"):
        build_config(_Run, _write(tmp_path, "samples: [1, 2\n"))
    with pytest.raises(ConfigError, match="must be a mapping"):
        build_config(_Run, _write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(ConfigError, match="cannot read config"):
        load_yaml(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="256kb"):
        build_config(_Run, _write(tmp_path, "lengths: 4k,256kb\n"))


def test_precedence_cli_over_yaml_over_defaults(tmp_path):
    path = _write(
        tmp_path, "samples: 10\nseed: 7\nlengths: 4k,8k\nmodel:\n  model: /ckpt\n  model_args: {dtype: bf16}\n"
    )
    config = build_config(_Run, path, {"seed": 9, "template": None, "model": {"runner": "vllm", "model": None}})
    assert config.samples == 10  # YAML
    assert config.seed == 9  # CLI beats YAML
    assert config.template == "base"  # default (CLI gave None)
    assert config.lengths == [4096, 8192]
    assert config.model == ModelConfig(runner="vllm", model="/ckpt", model_args={"dtype": "bf16"})


def test_kebab_case_keys_and_paths():
    config = from_dict(_Run, {"output-dir": "runs/x"})
    assert config.output_dir == Path("runs/x")
