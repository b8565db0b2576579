"""Fixtures of the efficiency tests: tiny comparison checkpoints and this folder's runners on PYTHONPATH."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, bpe_tokenizer_dir) -> dict[str, Path]:
    """Jamba / Mixtral / Llama of equal width and depth (shapes: `jamba_eval.tasks.efficiency.tiny_models`)."""
    pytest.importorskip("transformers")
    from jamba_eval.tasks.efficiency.tiny_models import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("tiny_models"), bpe_tokenizer_dir)


@pytest.fixture
def local_runners(monkeypatch) -> None:
    """Let bench workers import this folder's runners (`fake_runners:ScriptedRunner`, `hf_runner:HFRunner`)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
