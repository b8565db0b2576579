"""Heavy extras stay unimported until chosen: the main suite and `--help` never import vLLM."""

import subprocess
import sys

MODULES = [
    "jamba_eval.cli",
    "jamba_eval.runners.base",
    "jamba_eval.runners.torch_runner",
    "jamba_eval.runners.vllm_runner",
    "jamba_eval.runners.openai_runner",
    "jamba_eval.runners.server",
]


def test_runner_modules_do_not_import_vllm_or_web_frameworks():
    code = (
        f"import sys; import {', '.join(MODULES)}; "
        "heavy = [m for m in ('vllm', 'fastapi', 'uvicorn', 'transformers') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
