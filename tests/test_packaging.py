"""Guard against the silent wheel trap: a sub-package missing from `packages` works editable, vanishes from wheels."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_folder_is_listed():
    setuptools = _pyproject()["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    mapping = {"jamba_eval": "jamba_eval", **setuptools["package-dir"]}
    found = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *relative.parts]))
    missing = sorted(found - listed)
    assert not missing, f"packages with __init__.py but not listed in pyproject.toml: {missing}"
    stale = sorted(p for p in listed if p not in found)
    assert not stale, f"packages listed in pyproject.toml without an __init__.py: {stale}"


def test_mapped_packages_import_under_the_namespace():
    import jamba_eval.reports
    import jamba_eval.ruler
    import jamba_eval.runners
    import jamba_eval.tasks

    assert Path(jamba_eval.ruler.__file__).parent == ROOT / "ruler"
    assert Path(jamba_eval.runners.__file__).parent == ROOT / "runners"
    assert Path(jamba_eval.tasks.__file__).parent == ROOT / "tasks"
    assert Path(jamba_eval.reports.__file__).parent == ROOT / "reports"


def test_console_script_and_extras():
    project = _pyproject()["project"]
    assert project["scripts"]["jamba-eval"] == "jamba_eval.cli:main"
    assert {"dev", "hf", "lm-eval", "vllm", "serve"} <= set(project["optional-dependencies"])
    torch_requirements = [d for d in project["dependencies"] if d.startswith("torch")]
    assert torch_requirements and "==" not in torch_requirements[0], "torch must not be pinned (CUDA pull)"
