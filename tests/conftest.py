"""Shared test set-up: offline Hugging Face environment, opt-in markers, small fixtures built locally."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

# Never touch the network or the user's caches.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("JAMBA_EVAL_NO_PROGRESS", "1")

OPT_IN = {"slow": "--runslow", "gpu": "--rungpu", "vllm": "--runvllm"}


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="run tests marked slow")
    parser.addoption("--rungpu", action="store_true", help="run tests marked gpu (needs CUDA)")
    parser.addoption("--runvllm", action="store_true", help="run tests marked vllm (needs vLLM installed)")


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_collection_modifyitems(config, items):
    for item in items:
        for marker, flag in OPT_IN.items():
            if marker in item.keywords and not config.getoption(flag):
                item.add_marker(pytest.mark.skip(reason=f"{marker} test: run with {flag}"))
        if "browser" in item.keywords and chromium_path() is None:
            item.add_marker(pytest.mark.skip(reason="browser test: Chromium not installed (apt-get install chromium)"))


_ROOT = logging.getLogger()
_PRISTINE_LOGGING = (list(_ROOT.handlers), _ROOT.level, logging.getLogger("jamba_eval").level)


@pytest.fixture(autouse=True)
def _restore_logging():
    """`jamba_eval.cli.main` configures logging process-wide (root handler, `jamba_eval` level), also when a
    module- or session-scoped fixture calls it: after each test, logging returns to its state at start-up, so a CLI
    call never changes what a later test's `caplog` sees."""
    yield
    handlers, root_level, our_level = _PRISTINE_LOGGING
    _ROOT.handlers[:] = handlers
    _ROOT.setLevel(root_level)
    logging.getLogger("jamba_eval").setLevel(our_level)


@pytest.fixture(scope="session", autouse=True)
def _private_hf_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf_home")
    os.environ["HF_HOME"] = str(home)
    yield home


@pytest.fixture(scope="session")
def bpe_tokenizer_dir(tmp_path_factory) -> Path:
    """A byte-level BPE (vocab 1024) trained here on public-domain text, saved as tokenizer.json + config."""
    from jamba_eval.testing import train_bpe_tokenizer

    return train_bpe_tokenizer(tmp_path_factory.mktemp("bpe_tokenizer"))


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, bpe_tokenizer_dir) -> Path:
    from jamba_eval.testing import save_tiny_checkpoint

    return save_tiny_checkpoint("llama", tmp_path_factory.mktemp("llama"), bpe_tokenizer_dir, seed=0)


@pytest.fixture(scope="session")
def tiny_mixtral_dir(tmp_path_factory, bpe_tokenizer_dir) -> Path:
    from jamba_eval.testing import save_tiny_checkpoint

    return save_tiny_checkpoint("mixtral", tmp_path_factory.mktemp("mixtral"), bpe_tokenizer_dir, seed=1)


@pytest.fixture(scope="session")
def tiny_jamba_dir(tmp_path_factory, bpe_tokenizer_dir) -> Path:
    """A Jamba checkpoint written by transformers (attention at layer 2 of 4, MoE every other layer)."""
    from jamba_eval.testing import save_tiny_checkpoint

    return save_tiny_checkpoint("jamba", tmp_path_factory.mktemp("jamba"), bpe_tokenizer_dir, seed=2)
