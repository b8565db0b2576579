"""`jamba-eval run ruler`: generate (or reuse) sample sets, ask the model through the runner protocol, score,
store every sample as it finishes, summarise.

Runs resume by default: finished sample ids in the run directory are skipped, and since samples are pure functions
of (seed, task, length, index), a rerun asks exactly the remaining prompts. Options that do not change any sample
(batch size, output dir, sample count, lengths, tasks, threshold, bootstrap rounds, cache dir) may change between
sessions; anything else (model, template, seed, haystack, QA data, fitting mode) makes the run refuse to resume.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jamba_eval import progress, provenance
from jamba_eval.config import build_config, format_length, to_dict
from jamba_eval.errors import UserError
from jamba_eval.fingerprint import weights_fingerprint
from jamba_eval.results import RunDir
from jamba_eval.ruler.config import RulerConfig
from jamba_eval.ruler.dataset import SampleSet, default_cache_dir, make_generator
from jamba_eval.ruler.fit import UnreachableLength
from jamba_eval.ruler.generator import Sample, sample_id
from jamba_eval.ruler.haystack import load_corpus
from jamba_eval.ruler.metrics import sample_score
from jamba_eval.ruler.qa_data import find_qa_data
from jamba_eval.ruler.summary import build_summary, render_table, summary_lines
from jamba_eval.ruler.tasks import TaskSpec, resolve_tasks
from jamba_eval.ruler.templates import PromptTemplate
from jamba_eval.runners.base import Completion, GenerationRequest, Runner, load_runner

log = logging.getLogger(__name__)

VOLATILE = (
    "batch_size",
    "resume",
    "output_dir",
    "samples",
    "lengths",
    "max_len",
    "tasks",
    "threshold",
    "bootstrap_rounds",
    "cache_dir",
)
QA_HINT = (
    "pass --qa-data DIR holding SQuAD v2 dev-v2.0.json and HotpotQA hotpot_dev_distractor_v1.json, "
    "or have them in the Hugging Face datasets cache"
)


def _qa_sources(specs: list[TaskSpec], config: RulerConfig) -> tuple[dict[str, Any], dict[str, str]]:
    """QA data per task, and the QA tasks skipped for lack of data (an explicit --tasks request makes it an error)."""
    data, skipped = {}, {}
    for spec in specs:
        if spec.kind != "qa":
            continue
        found = find_qa_data(spec.args["dataset"], config.qa_data)
        if found is not None:
            data[spec.name] = found
        elif config.tasks:
            raise UserError(f"{spec.name} needs {spec.args['dataset']} data: {QA_HINT}")
        else:
            skipped[spec.name] = f"no {spec.args['dataset']} data found"
    return data, skipped


def _record(spec: TaskSpec, sample: Sample, completion: Completion, batch_seconds: float) -> dict[str, Any]:
    import hashlib

    return {
        "id": sample.id,
        "task": spec.name,
        "length": sample.max_length,
        "index": sample.index,
        "seed": sample.seed,
        "prompt_sha256": hashlib.sha256(sample.prompt.encode("utf-8")).hexdigest(),
        "sample_sha256": sample.sha256(),
        "prompt_tokens": sample.prompt_tokens,
        "runner_prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "finish_reason": completion.finish_reason,
        "units": sample.units,
        "answer_prefix": sample.answer_prefix,
        "prediction": completion.text,
        "references": sample.outputs,
        "metric": spec.metric,
        "score": sample_score(spec.metric, completion.text, sample.outputs),
        "latency_s": completion.total_time_s if completion.total_time_s is not None else batch_seconds,
        "ttft_s": completion.time_to_first_token_s,
        **({"extra": sample.extra} if sample.extra else {}),
    }


def run_ruler(config: RulerConfig, runner: Runner | None = None) -> dict[str, Any]:
    """Run RULER as configured and return the summary (also written to <output_dir>/summary.json).

    `runner` may be given directly (e.g. a MockRunner with a responder); otherwise `config.model` is loaded.
    """
    lengths = config.resolved_lengths()
    specs = resolve_tasks(config.tasks)
    qa, skipped = _qa_sources(specs, config)
    if skipped:
        log.warning("%s skipped: no QA data found; to run them, %s", ", ".join(skipped), QA_HINT)
    specs = [s for s in specs if s.name not in skipped]
    output_dir = Path(config.output_dir) if config.output_dir else config.default_output_dir()
    if config.output_dir is None:
        log.info("writing to %s (choose another with --output-dir)", output_dir)
    owns_runner = runner is None
    runner = runner or load_runner(config.model)
    try:
        return _run(config, runner, specs, lengths, qa, skipped, output_dir)
    finally:
        if owns_runner:
            runner.close()


def _run(config, runner, specs, lengths, qa, skipped, output_dir) -> dict[str, Any]:
    too_long = [length for length in lengths if length > runner.max_length]
    if too_long:
        raise UserError(
            f"{runner.name} takes at most {runner.max_length} tokens; drop {', '.join(map(format_length, too_long))} "
            f"from the lengths (or raise the runner's max length)"
        )
    tokenizer = runner.tokenizer
    template = PromptTemplate(config.template, tokenizer)
    corpus = (
        load_corpus(str(config.haystack_file) if config.haystack_file else None)
        if any(s.args.get("type_haystack") == "essay" for s in specs)
        else None
    )
    cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    stored = to_dict(dataclasses.replace(config, output_dir=output_dir))
    stored["weights"] = weights_fingerprint(config.model)  # resuming with other weights is refused
    info = provenance.collect(seeds={"seed": config.seed})
    info["runner"] = runner.describe()
    info["haystack"] = None if corpus is None else {"name": corpus.name, "sha256": corpus.sha256}
    info["qa_data"] = {name: {"source": d.source, "sha256": d.sha256} for name, d in qa.items()}
    with RunDir.open(output_dir, "ruler", stored, info, resume=config.resume, volatile=VOLATILE) as run:
        samples_log = run.samples()
        done = samples_log.done_ids
        cells = [(length, spec) for length in lengths for spec in specs]
        pending = sum(
            1
            for length, spec in cells
            for i in range(config.samples)
            if sample_id(spec.name, length, config.seed, i) not in done
        )
        if run.resumed:
            log.info("resuming %s: %d samples done, %d to go", output_dir, len(done), pending)
        sets: dict[str, dict[str, Any]] = {}
        unfit: dict[str, dict[str, str]] = {}
        with progress.progress_bar(pending, "RULER") as bar:
            for length, spec in cells:
                bar.describe(f"RULER {spec.name} @ {format_length(length)}: preparing")
                started = time.perf_counter()
                generator = make_generator(
                    spec,
                    tokenizer,
                    template,
                    length,
                    config.seed,
                    verify=config.verify,
                    corpus=corpus,
                    qa=qa.get(spec.name),
                )
                try:
                    sample_set = SampleSet(generator, config.samples, cache_dir)
                except UnreachableLength as exc:  # e.g. HotpotQA's own 10 paragraphs at 4K bytes
                    log.warning("skipping %s at %s: %s", spec.name, format_length(length), exc)
                    unfit.setdefault(spec.name, {})[str(length)] = str(exc)
                    bar.advance(
                        sum(
                            1 for i in range(config.samples) if sample_id(spec.name, length, config.seed, i) not in done
                        )
                    )
                    continue
                sets.setdefault(spec.name, {})[str(length)] = sample_set.describe()
                log.debug("%s @ %d: samples ready in %.2fs", spec.name, length, time.perf_counter() - started)
                todo = [i for i in range(config.samples) if sample_id(spec.name, length, config.seed, i) not in done]
                bar.describe(f"RULER {spec.name} @ {format_length(length)}")
                for first in range(0, len(todo), config.batch_size):
                    batch = [sample_set.sample(i) for i in todo[first : first + config.batch_size]]
                    requests = [_request(s, spec, template, tokenizer) for s in batch]
                    started = time.perf_counter()
                    completions = runner.generate(requests)
                    seconds = (time.perf_counter() - started) / len(batch)
                    for sample, completion in zip(batch, completions, strict=True):
                        samples_log.append(_record(spec, sample, completion, seconds))
                    bar.advance(len(batch))
                run.write_summary(_summary(config, runner, specs, lengths, skipped, unfit, sets, samples_log))
        summary = _summary(config, runner, specs, lengths, skipped, unfit, sets, samples_log)
        run.write_summary(summary)
        run.set_status("complete" if summary["finished"] else "incomplete")
        return summary


def _request(sample: Sample, spec: TaskSpec, template: PromptTemplate, tokenizer: Any) -> GenerationRequest:
    """Greedy, no stop strings, RULER's generation budget. Text prompts get the runner's BOS, as RULER's
    vLLM/HF clients do; chat-template prompts carry their own special tokens and go as ids."""
    prompt: Any = tokenizer.encode(sample.prompt) if template.sends_token_ids else sample.prompt
    return GenerationRequest(prompt=prompt, max_new_tokens=spec.tokens_to_generate, stop=[], temperature=0.0)


def _summary(config, runner, specs, lengths, skipped, unfit, sets, samples_log) -> dict[str, Any]:
    tasks = [s.name for s in specs]
    summary = build_summary(
        samples_log.records(), tasks, lengths, config.samples, config.seed, config.threshold, config.bootstrap_rounds
    )
    notes = []
    if skipped:
        notes.append(f"average covers {len(tasks)} tasks ({', '.join(skipped)} skipped: no QA data)")
    for task, per_length in unfit.items():
        where = ", ".join(format_length(int(length)) for length in per_length)
        notes.append(f"{task} cannot fit {where} with this tokenizer: no mean at that length")
    pending = [
        (t, length)
        for t in tasks
        for length in lengths
        if not summary["scores"][t].get(str(length), {}).get("complete") and str(length) not in unfit.get(t, {})
    ]
    summary.update(
        {
            "finished": not pending,  # nothing left to run (cells that cannot fit count as done)
            "title": f"RULER - {runner.name} ({config.template} template)",
            "model": dataclasses.asdict(config.model),
            "runner": runner.describe(),
            "template": config.template,
            "skipped_tasks": skipped,
            "unfit": unfit,
            "note": "; ".join(notes),
            "sample_sets": sets,
        }
    )
    return summary


def print_summary(summary: Mapping[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    console.print(render_table(summary))
    for line in summary_lines(summary):
        console.print(line, highlight=False, markup=False)


def cli_main(config_path: Path | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """Entry point of `jamba-eval run ruler` (see jamba_eval.cli)."""
    config = build_config(RulerConfig, config_path, overrides)
    summary = run_ruler(config)
    print_summary(summary)
    return summary
