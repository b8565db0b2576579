"""`jamba-eval run academic`: lm-evaluation-harness tasks on any runner, resumable per task.

Each suite entry (a task or group with its own few-shot count) is one `lm_eval.simple_evaluate` call on a
`RunnerLM`. Its results dict is stored untouched as `lm_eval/<entry>.json` (so lm-eval users can read it), its
per-sample log goes to `samples.jsonl`, and a line in `tasks.jsonl` marks it done: a restarted run skips finished
entries. `summary.json` collects the headline metric of each entry beside the papers' published numbers.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from jamba_eval import provenance
from jamba_eval.config import ModelConfig, build_config, to_dict
from jamba_eval.errors import ConfigError, UserError
from jamba_eval.fingerprint import weights_fingerprint
from jamba_eval.registry import require
from jamba_eval.results import RunDir, write_json_atomic
from jamba_eval.tasks.academic.suites import Suite, SuiteTask, load_suite

log = logging.getLogger(__name__)

HUB_URL = "https://huggingface.co"


@dataclasses.dataclass
class AcademicConfig:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    suite: str | None = None
    tasks: list[str] | None = None  # narrows a suite, or names lm-eval tasks directly
    limit: int | None = None
    num_fewshot: int | None = None  # overrides every entry's few-shot count
    apply_chat_template: bool | None = None  # None: the suite's choice
    include_path: Path | None = None
    batch_size: int | None = None
    max_gen_toks: int = 256
    seed: int = 1234
    bootstrap_iters: int = 1000
    output_dir: Path | None = None
    offline: bool | None = None  # None: go offline when the Hugging Face Hub cannot be reached


def resolve_entries(config: AcademicConfig) -> tuple[Suite | None, list[SuiteTask]]:
    """The suite entries to run, narrowed by --tasks; plain lm-eval task names when no suite is given."""
    if config.suite:
        suite = load_suite(config.suite)
        entries = suite.tasks
        if config.tasks:
            known = {e.task for e in entries}
            extra = [t for t in config.tasks if t not in known]
            entries = [e for e in entries if e.task in config.tasks] + [SuiteTask(task=t, label=t) for t in extra]
    else:
        suite = None
        if not config.tasks:
            raise ConfigError("give --suite (jamba-v0.1, jamba-1.5, open-llm-v2) or --tasks")
        entries = [SuiteTask(task=t, label=t) for t in config.tasks]
    if config.num_fewshot is not None:
        entries = [dataclasses.replace(e, num_fewshot=config.num_fewshot) for e in entries]
    return suite, entries


def _hub_reachable(timeout: float = 3.0) -> bool:
    import httpx

    try:
        httpx.head(HUB_URL, timeout=timeout)
        return True
    except httpx.HTTPError:
        return False


def _set_offline(config: AcademicConfig) -> bool:
    """Offline mode makes a missing data set fail at once instead of hanging on the network."""
    offline = config.offline
    if offline is None:
        offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or not _hub_reachable()
    if offline:
        for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
            os.environ[var] = "1"
    return offline


def _entry_id(entry: SuiteTask) -> str:
    shots = "default" if entry.num_fewshot is None else f"{entry.num_fewshot}shot"
    return f"{entry.task}-{shots}"


def _missing_data_error(entry: SuiteTask, exc: BaseException) -> UserError:
    dataset = re.search(r"'([^']+)' on the Hub", str(exc))
    name = dataset.group(1) if dataset else "its data set"
    return UserError(
        f"task {entry.task!r} needs {name}, which is not available offline ({type(exc).__name__}): download it on a "
        f"connected machine with datasets.load_dataset({name!r}) and copy the Hugging Face cache "
        f"(HF_HOME={os.environ.get('HF_HOME', '~/.cache/huggingface')}), or write a local task YAML with "
        f"'dataset_path: json' and pass --include-path"
    )


def _load_task(task_manager: Any, entry: SuiteTask) -> None:
    """Build the task once up front so a missing data set or unknown name fails clearly before any model work."""
    if entry.task not in task_manager.all_tasks:
        raise UserError(f"unknown lm-eval task {entry.task!r} (list them with `lm-eval ls tasks`)")
    try:
        task_manager.load([entry.task])
    except OSError as exc:  # ConnectionError (offline hub), FileNotFoundError / DatasetNotFoundError (no local file)
        raise _missing_data_error(entry, exc) from None


def _jsonable(value: Any) -> Any:
    from lm_eval.utils import handle_non_serializable

    return json.loads(json.dumps(value, default=handle_non_serializable))


def _headline(results: dict[str, Any], entry: SuiteTask) -> dict[str, Any]:
    """The entry's reported metric (x100) and its stderr from lm-eval's results (or group) table."""
    table = {**results.get("results", {}), **results.get("groups", {})}
    row = table.get(entry.task) or next(iter(table.values()), {})
    metric = entry.metric or next((k for k in row if "," in k and "_stderr" not in k), None)
    value = row.get(metric) if metric else None
    stderr = row.get(metric.replace(",", "_stderr,", 1)) if metric else None
    scale = lambda v: round(100 * v, 2) if isinstance(v, int | float) else None  # noqa: E731
    return {"metric": metric, "value": scale(value), "stderr": scale(stderr)}


def run_academic(config: AcademicConfig) -> dict[str, Any]:
    lm_eval = require("lm_eval", "lm-eval", "jamba-eval run academic")
    from lm_eval.tasks import TaskManager

    from jamba_eval.runners.base import load_runner
    from jamba_eval.tasks.academic.bridge import RunnerLM

    suite, entries = resolve_entries(config)
    offline = _set_offline(config)
    chat = (
        config.apply_chat_template
        if config.apply_chat_template is not None
        else bool(suite and suite.apply_chat_template)
    )
    output_dir = config.output_dir or Path("runs") / "academic" / _slug(config.model.model)
    task_manager = TaskManager(include_path=str(config.include_path) if config.include_path else None)
    for entry in entries:
        _load_task(task_manager, entry)

    seeds = {"python": config.seed, "numpy": config.seed, "torch": config.seed, "fewshot": config.seed}
    resolved = {**to_dict(config), "output_dir": str(output_dir), "apply_chat_template": chat}
    resolved["weights"] = weights_fingerprint(config.model)  # resuming with other weights is refused
    with RunDir.open(
        output_dir, "academic", resolved, provenance.collect(seeds), volatile=("batch_size", "offline", "output_dir")
    ) as run:
        tasks_log, samples_log = run.samples("tasks"), run.samples("samples")
        overrides = {"batch_size": config.batch_size} if config.batch_size else {}
        runner = load_runner(config.model, **overrides)
        try:
            lm = RunnerLM(runner, max_gen_toks=config.max_gen_toks, seed=config.seed)
            for entry in entries:
                entry_id = _entry_id(entry)
                if entry_id in tasks_log:
                    log.info("%s: already done, skipped", entry_id)
                    continue
                log.info("%s: running (few-shot %s, limit %s)", entry_id, entry.num_fewshot, config.limit)
                start = time.perf_counter()
                results = lm_eval.simple_evaluate(
                    model=lm,
                    tasks=[entry.task],
                    num_fewshot=entry.num_fewshot,
                    limit=config.limit,
                    log_samples=True,
                    task_manager=task_manager,
                    apply_chat_template=chat,
                    bootstrap_iters=config.bootstrap_iters,
                    random_seed=config.seed,
                    numpy_random_seed=config.seed,
                    torch_random_seed=config.seed,
                    fewshot_random_seed=config.seed,
                    confirm_run_unsafe_code=entry.unsafe_code,
                )
                elapsed = time.perf_counter() - start
                samples = results.pop("samples", {})
                results_path = run.path / "lm_eval" / f"{entry_id}.json"
                results_path.parent.mkdir(exist_ok=True)
                write_json_atomic(results_path, _jsonable(results))
                for task_name, task_samples in samples.items():
                    for sample in task_samples:
                        sample_id = f"{entry_id}/{task_name}/{sample['doc_id']}"
                        if sample_id not in samples_log:
                            samples_log.append(
                                {"id": sample_id, "entry": entry_id, "task": task_name, **_jsonable(sample)}
                            )
                tasks_log.append(
                    {
                        "id": entry_id,
                        "task": entry.task,
                        "label": entry.label or entry.task,
                        "num_fewshot": entry.num_fewshot,
                        "wall_s": round(elapsed, 3),
                        "results_file": str(results_path.relative_to(run.path)),
                        "n_samples": results.get("n-samples", {}),
                        **_headline(results, entry),
                    }
                )
            summary = _summary(run, suite, entries, offline)
            run.write_summary(summary)
            run.set_status("complete")
        finally:
            runner.close()
    return summary


def _summary(run: RunDir, suite: Suite | None, entries: list[SuiteTask], offline: bool) -> dict[str, Any]:
    done = {r["id"]: r for r in run.samples("tasks").records()}
    rows = []
    for entry in entries:
        record = done.get(_entry_id(entry), {})
        rows.append(
            {
                "entry": _entry_id(entry),
                "task": entry.task,
                "label": entry.label or entry.task,
                "num_fewshot": entry.num_fewshot,
                "metric": record.get("metric", entry.metric),
                "value": record.get("value"),
                "stderr": record.get("stderr"),
                "wall_s": record.get("wall_s"),
                "published": entry.published,
                "verified": entry.verified,
            }
        )
    return {
        "kind": "academic",
        "suite": suite.name if suite else None,
        "source": suite.source if suite else None,
        "published_models": suite.models if suite else [],
        "offline": offline,
        "tasks": rows,
        "lm_eval_results": {r["entry"]: f"lm_eval/{r['entry']}.json" for r in rows if r["value"] is not None},
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(text).name or text).strip("_") or "model"


def format_summary(summary: dict[str, Any]) -> str:
    lines = [f"{'task':<28} {'metric':<30} {'ours':>8}  published"]
    for row in summary["tasks"]:
        value = "-" if row["value"] is None else f"{row['value']:.2f}"
        published = ", ".join(f"{m} {v}{'' if row['verified'].get(m) else '*'}" for m, v in row["published"].items())
        lines.append(f"{row['label'][:28]:<28} {str(row['metric'])[:30]:<30} {value:>8}  {published}")
    if any(not v for row in summary["tasks"] for v in row["verified"].values()):
        lines.append("* published value transcribed from the paper, not re-verified")
    return "\n".join(lines)


def cli_main(config_path: Path | None, overrides: dict[str, Any]) -> None:
    config = build_config(AcademicConfig, config_path, overrides)
    summary = run_academic(config)
    print(format_summary(summary))
