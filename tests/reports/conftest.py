"""Real run directories for the report tests, made once per session by the real commands and library entry points:
RULER (two mock models through run_ruler, one through the CLI), academic (lm-eval on local toy tasks with the mock
runner), Arena-Hard (the CLI with mock model and judge). Model output includes HTML that must be shown as text."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from jamba_eval.cli import main as cli_main

XSS = '</pre><script>window.__pwned = 1</script>"><img src=x onerror="window.__pwned = 2">'
RULER_LENGTHS = [4096, 8192, 16384]
RULER_TASKS = ["niah_single_1", "niah_single_2", "niah_multikey_2", "vt"]
# the share of NIAH prompts each mock model gets right at each length
SKILL = {"strong-model": {4096: 100, 8192: 100, 16384: 67}, "weak-model": {4096: 100, 8192: 34, 16384: 0}}


def solver(skill: dict[int, int], html_for_vt: bool = False):
    """A mock model: answers NIAH and variable-tracking prompts by reading them, right on a deterministic
    `skill[length]`% of them; with `html_for_vt` it answers variable tracking with HTML a careless report would run."""

    def respond(prompt: str) -> str:
        last = prompt[prompt.rfind("\n") + 1 :]
        niah = re.search(r".*for (.+?) mentioned in the provided text (?:is|are)$", last)
        vt = re.search(r"assigned the value (\d+), they are: $", last)
        if vt and html_for_vt:
            return XSS
        if niah:
            answer = re.findall(rf"special magic \w+ for {re.escape(niah.group(1))} is: (\S+)\.", prompt)
        elif vt:
            body = prompt[prompt.rfind("Memorize and track") :]
            answer = [re.search(rf"VAR (\w+) = {vt.group(1)}\b", body).group(1)]
            while found := re.search(rf"VAR (\w+) = VAR {answer[-1]}\b", body):
                answer.append(found.group(1))
        else:
            return XSS
        length = min(skill, key=lambda x: abs(x - len(prompt)))  # byte tokenizer: characters ~ tokens
        luck = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 100
        return " " + " ".join(answer) if luck < skill[length] else " 0000000"

    return respond


def run_cli(args: list[str]) -> None:
    """The real `jamba-eval` command in this process (typer ends with SystemExit even on success)."""
    try:
        cli_main(["--no-progress", *args])
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RuntimeError(f"jamba-eval {' '.join(args[:2])} exited with {exc.code}") from None


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def make_ruler_runs(root: Path) -> None:
    from jamba_eval.config import ModelConfig
    from jamba_eval.ruler.config import RulerConfig
    from jamba_eval.ruler.run import run_ruler
    from jamba_eval.runners.mock import MockRunner

    for name, skill in SKILL.items():
        config = RulerConfig(
            model=ModelConfig(runner="mock", model=name),
            lengths=RULER_LENGTHS,
            tasks=RULER_TASKS,
            samples=3,
            bootstrap_rounds=200,
            output_dir=root / "ruler" / name,
        )
        run_ruler(config, runner=MockRunner(name, responder=solver(skill, html_for_vt=name == "weak-model")))
    # through the command line: the model's name is itself HTML, and so is every answer
    run_cli(
        ["run", "ruler", "--runner", "mock", "--model", XSS, "--lengths", "4k", "--samples", "2",
         "--tasks", "niah_single_1,vt", "--output-dir", str(root / "ruler" / "cli-xss")]
    )  # fmt: skip


TOY_TASK = """task: toy_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
metric_list: [{{metric: acc, aggregation: mean, higher_is_better: true}}]
metadata: {{version: 1.0}}
"""


def make_academic_run(root: Path, tasks_dir: Path) -> None:
    tasks_dir.mkdir(parents=True, exist_ok=True)
    data = write_jsonl(
        tasks_dir / "mc.jsonl",
        [{"question": f"Is {i} even?", "choices": [" yes", " no"], "label": i % 2} for i in range(6)],
    )
    (tasks_dir / "toy_mc.yaml").write_text(TOY_TASK.format(data=data), encoding="utf-8")
    from jamba_eval.config import ModelConfig
    from jamba_eval.tasks.academic import AcademicConfig, run_academic

    run_academic(
        AcademicConfig(
            model=ModelConfig(runner="mock", model="strong-model"),
            tasks=["toy_mc"],
            include_path=tasks_dir,
            output_dir=root / "academic" / "strong-model",
            offline=True,
            bootstrap_iters=10,
        )
    )


def make_arena_run(root: Path, data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    questions = {"q1": "Explain recursion.", "q2": "Name a prime number.", "q3": "Write a <b>limerick</b>."}
    write_jsonl(data / "question.jsonl", [{"uid": k, "prompt": v} for k, v in questions.items()])
    write_jsonl(
        data / "baseline.jsonl", [{"question_id": k, "model": "base-model", "answer": f"plain {k}"} for k in questions]
    )
    run_cli(
        ["run", "arena", "--runner", "mock", "--model", "strong-model",
         "--questions", str(data / "question.jsonl"), "--baseline", "base-model",
         "--baseline-answers", str(data / "baseline.jsonl"), "--judge-runner", "mock",
         "--judge", "The second answer is better. " + XSS + " [[B>A]]", "--rounds", "20",
         "--output-dir", str(root / "arena" / "strong-model")]
    )  # fmt: skip


def efficiency_installed() -> bool:
    try:
        import jamba_eval.tasks.efficiency.bench  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def make_bench_run(root: Path, model_dir: Path) -> None:
    """`jamba-eval bench throughput` on a tiny Llama checkpoint through the torch runner (a real measurement)."""
    run_cli(
        ["bench", "throughput", "--runner", "torch", "--model", str(model_dir), "--lengths", "128,256,512",
         "--repeats", "2", "--warmup", "1", "--decode-tokens", "8", "--output-dir", str(root / "bench" / "tiny")]
    )  # fmt: skip


@pytest.fixture(scope="session")
def results(tmp_path_factory, request) -> Path:
    """runs/{ruler,academic,arena,bench}/... made by the real commands (academic when lm-eval is installed, bench
    when the efficiency task is)."""
    import os

    root = tmp_path_factory.mktemp("results")
    old = os.environ.get("JAMBA_EVAL_CACHE")
    os.environ["JAMBA_EVAL_CACHE"] = str(root.parent / "cache")
    try:
        make_ruler_runs(root / "runs")
        make_arena_run(root / "runs", root / "arena-data")
        try:
            import lm_eval  # noqa: F401
        except ImportError:
            pass
        else:
            make_academic_run(root / "runs", root / "lm-eval-tasks")
        if efficiency_installed():
            make_bench_run(root / "runs", request.getfixturevalue("tiny_llama_dir"))
    finally:
        if old is None:
            os.environ.pop("JAMBA_EVAL_CACHE", None)
        else:
            os.environ["JAMBA_EVAL_CACHE"] = old
    return root / "runs"


@pytest.fixture(scope="session")
def site(results, tmp_path_factory):
    """The site built once from every run."""
    from jamba_eval.reports.site import build_site

    return build_site([results], tmp_path_factory.mktemp("site") / "site")
