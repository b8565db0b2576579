"""The `jamba-eval` command line: parse options, call library functions, print.

Each command builds an `overrides` mapping of only the options the user gave (None = not given), so that
CLI > YAML (`--config`) > defaults, and hands it to the library entry point named in the command. Entry points
are imported lazily, so `jamba-eval --help` stays fast and a missing extra only matters for the command using it.
User errors (bad flags, missing files, missing extras) print one line and exit with code 2.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import typer

import jamba_eval
from jamba_eval import progress
from jamba_eval.config import LENGTH_HELP, parse_length, parse_lengths, parse_model_args
from jamba_eval.errors import UserError
from jamba_eval.registry import call as _call

app = typer.Typer(
    name="jamba-eval",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Long-context evaluation for Jamba and other LLMs: RULER, academic benchmarks, Arena-Hard, "
    "efficiency, HTML reports.",
)
run_app = typer.Typer(no_args_is_help=True, help="Run an evaluation and write a run directory.")
arena_app = typer.Typer(no_args_is_help=True, help="Arena-Hard tools (rescoring stored judgments).")
bench_app = typer.Typer(no_args_is_help=True, help="Measure throughput and memory against context length.")
app.add_typer(run_app, name="run")
app.add_typer(arena_app, name="arena")
app.add_typer(bench_app, name="bench")

GLOBAL_FLAGS = ("--no-progress",)
GLOBAL_OPTIONS = ("--verbosity",)
VERBOSITY = ("debug", "info", "warning", "error")

# Options shared by every command that talks to a model.
RUNNER = typer.Option(None, "--runner", help="torch | vllm | openai  [default: torch]")
MODEL = typer.Option(None, "--model", help="model name, preset or local path  [default: jamba-tiny]")
MODEL_ARGS = typer.Option(None, "--model-args", help="runner arguments as k=v,k=v (e.g. dtype=bfloat16,device=cuda)")
CONFIG = typer.Option(None, "--config", help="YAML run config; command-line options override it")
OUTPUT_DIR = typer.Option(None, "--output-dir", "-o", help="run directory (reopened to resume)")
SEED = typer.Option(None, "--seed", help="random seed")
BATCH_SIZE = typer.Option(None, "--batch-size", help="requests per runner batch")


def call(target: str, what: str, **kwargs: Any) -> Any:
    """Run a library entry point; Ctrl-C ends with a hint instead of a traceback (runs resume where they stopped)."""
    try:
        return _call(target, what, **kwargs)
    except KeyboardInterrupt:
        typer.echo("jamba-eval: interrupted; run the same command again to resume", err=True)
        raise typer.Exit(130) from None


def fail(message: str) -> None:
    """Print one error line and exit 2."""
    typer.echo(f"jamba-eval: error: {message}", err=True)
    raise typer.Exit(2)


def _model_overrides(runner: str | None, model: str | None, model_args: str | None) -> dict[str, Any]:
    return {"runner": runner, "model": model, "model_args": parse_model_args(model_args) if model_args else None}


def _length(option: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_length(value)
    except UserError as exc:
        fail(f"{option}: {exc}")


def _lengths(option: str, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        return parse_lengths(value)
    except UserError as exc:
        fail(f"{option}: {exc}")


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"jamba-eval {jamba_eval.__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version and exit."
    ),
    verbosity: str = typer.Option(
        None,
        "--verbosity",
        help="debug | info | warning | error  [default: info]; accepted before or after the subcommand",
    ),
    no_progress: bool = typer.Option(
        False,
        "--no-progress",
        help="Hide progress bars (they are off anyway when "
        "output is not a terminal); accepted before or after the subcommand",
    ),
) -> None:
    level = (verbosity or os.environ.get("JAMBA_EVAL_LOG_LEVEL") or "info").lower()
    if level not in VERBOSITY:
        fail(f"--verbosity: {level!r} is not one of {', '.join(VERBOSITY)}")
    _configure_logging(level)
    if no_progress:
        progress.configure(False)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of the message (it may be replaced after set-up)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _configure_logging(level: str) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_jamba_eval", False):
            root.removeHandler(handler)
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, markup=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    handler._jamba_eval = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("jamba_eval").setLevel(level.upper())


# ------------------------------------------------------------------------------------------------------ run


@run_app.command("ruler")
def run_ruler(
    model: str = MODEL,
    runner: str = RUNNER,
    model_args: str = MODEL_ARGS,
    max_len: str = typer.Option(
        None,
        "--max-len",
        help=f"longest context; lengths are powers of two from 4K up to it ({LENGTH_HELP})  [default: 128k]",
    ),
    lengths: str = typer.Option(None, "--lengths", help="explicit comma-separated lengths, e.g. 4k,8k,512k,1m"),
    tasks: str = typer.Option(None, "--tasks", help="comma-separated RULER tasks  [default: all 13]"),
    samples: int = typer.Option(None, "--samples", help="samples per task and length  [default: 500, as RULER]"),
    seed: int = SEED,
    template: str = typer.Option(
        None,
        "--template",
        help="prompt template: base | chat (the tokenizer's own) | "
        "a RULER template name such as jamba  [default: base]",
    ),
    batch_size: int = BATCH_SIZE,
    haystack_file: Path = typer.Option(
        None,
        "--haystack-file",
        help="text file or RULER essay JSON for the "
        "essay haystack  [default: public-domain State of the Union addresses]",
    ),
    qa_data: Path = typer.Option(None, "--qa-data", help="directory with SQuAD v2 dev and HotpotQA dev JSON"),
    output_dir: Path = OUTPUT_DIR,
    config: Path = CONFIG,
    resume: bool = typer.Option(
        None, "--resume/--no-resume", help="reuse finished samples in --output-dir  [default: resume]"
    ),
) -> None:
    """RULER's 13 synthetic tasks at lengths up to 256K and beyond, with effective context length."""
    overrides = {
        "model": _model_overrides(runner, model, model_args),
        "max_len": _length("--max-len", max_len),
        "lengths": _lengths("--lengths", lengths),
        "tasks": _csv(tasks),
        "samples": samples,
        "seed": seed,
        "template": template,
        "batch_size": batch_size,
        "haystack_file": haystack_file,
        "qa_data": qa_data,
        "output_dir": output_dir,
        "resume": resume,
    }
    call("jamba_eval.ruler.run:cli_main", "jamba-eval run ruler", config_path=config, overrides=overrides)


@run_app.command("academic")
def run_academic(
    suite: str = typer.Option(None, "--suite", help="jamba-v0.1 | jamba-1.5 | open-llm-v2"),
    tasks: str = typer.Option(
        None, "--tasks", help="comma-separated lm-eval task names (instead of, or narrowing, --suite)"
    ),
    model: str = MODEL,
    runner: str = RUNNER,
    model_args: str = MODEL_ARGS,
    limit: int = typer.Option(None, "--limit", help="at most N documents per task (for quick checks)"),
    num_fewshot: int = typer.Option(None, "--num-fewshot", help="override the suite's few-shot count"),
    apply_chat_template: bool = typer.Option(
        None, "--apply-chat-template/--no-chat-template", help="wrap prompts in the tokenizer's chat template"
    ),
    include_path: Path = typer.Option(None, "--include-path", help="extra lm-eval task YAML directory"),
    batch_size: int = BATCH_SIZE,
    seed: int = SEED,
    output_dir: Path = OUTPUT_DIR,
    config: Path = CONFIG,
) -> None:
    """Academic benchmarks through lm-evaluation-harness, with the Jamba papers' suites."""
    overrides = {
        "suite": suite,
        "tasks": _csv(tasks),
        "model": _model_overrides(runner, model, model_args),
        "limit": limit,
        "num_fewshot": num_fewshot,
        "apply_chat_template": apply_chat_template,
        "include_path": include_path,
        "batch_size": batch_size,
        "seed": seed,
        "output_dir": output_dir,
    }
    call("jamba_eval.tasks.academic:cli_main", "jamba-eval run academic", config_path=config, overrides=overrides)


@run_app.command("arena")
def run_arena(
    model: str = MODEL,
    runner: str = RUNNER,
    model_args: str = MODEL_ARGS,
    questions: Path = typer.Option(
        None, "--questions", help="Arena-Hard question.jsonl (v0.1 or v2.0 format) or any JSONL of prompts"
    ),
    baseline: str = typer.Option(None, "--baseline", help="baseline model name  [default: gpt-4-0314]"),
    baseline_answers: Path = typer.Option(None, "--baseline-answers", help="JSONL of the baseline's answers"),
    judge: str = typer.Option(None, "--judge", help="judge model name or path"),
    judge_runner: str = typer.Option(None, "--judge-runner", help="runner for the judge  [default: openai]"),
    judge_model_args: str = typer.Option(None, "--judge-model-args", help="judge runner arguments as k=v,k=v"),
    judge_prompt: Path = typer.Option(None, "--judge-prompt", help="file with another judge system prompt"),
    judge_max_tokens: int = typer.Option(None, "--judge-max-tokens", help="judge answer cap  [default: 4096]"),
    max_tokens: int = typer.Option(None, "--max-tokens", help="answer length cap  [default: 4096]"),
    limit: int = typer.Option(None, "--limit", help="first N questions only"),
    style_control: bool = typer.Option(
        None, "--style-control/--no-style-control", help="control for answer length and markdown"
    ),
    rounds: int = typer.Option(None, "--rounds", help="bootstrap rounds  [default: 100]"),
    seed: int = SEED,
    batch_size: int = BATCH_SIZE,
    output_dir: Path = OUTPUT_DIR,
    config: Path = CONFIG,
) -> None:
    """Arena-Hard-style pairwise judging against a baseline, Bradley-Terry scores with bootstrap CIs."""
    overrides = {
        "model": _model_overrides(runner, model, model_args),
        "questions": questions,
        "baseline": baseline,
        "baseline_answers": baseline_answers,
        "judge": _model_overrides(judge_runner, judge, judge_model_args),
        "judge_prompt": judge_prompt,
        "judge_max_tokens": judge_max_tokens,
        "max_tokens": max_tokens,
        "limit": limit,
        "style_control": style_control,
        "rounds": rounds,
        "seed": seed,
        "batch_size": batch_size,
        "output_dir": output_dir,
    }
    call("jamba_eval.tasks.arena:cli_main", "jamba-eval run arena", config_path=config, overrides=overrides)


@arena_app.command("score")
def arena_score(
    run_dirs: list[Path] = typer.Argument(..., help="arena run directories to score together"),
    style_control: bool = typer.Option(False, "--style-control", help="control for answer length and markdown"),
    rounds: int = typer.Option(100, "--rounds", help="bootstrap rounds"),
    seed: int = typer.Option(0, "--seed", help="bootstrap seed"),
) -> None:
    """Rescore stored judgments (e.g. with style control) without calling any model."""
    call(
        "jamba_eval.tasks.arena:cli_score",
        "jamba-eval arena score",
        run_dirs=run_dirs,
        style_control=style_control,
        rounds=rounds,
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------------- bench


def _bench(
    what: str, model, runner, model_args, lengths, batch_sizes, repeats, warmup, decode_tokens, output_dir, config
) -> None:
    overrides = {
        "what": what,
        "model": _model_overrides(runner, model, model_args),
        "lengths": _lengths("--lengths", lengths),
        "batch_sizes": [int(b) for b in _csv(batch_sizes)] if batch_sizes else None,
        "repeats": repeats,
        "warmup": warmup,
        "decode_tokens": decode_tokens,
        "output_dir": output_dir,
    }
    call("jamba_eval.tasks.efficiency:cli_bench", f"jamba-eval bench {what}", config_path=config, overrides=overrides)


BENCH_LENGTHS = typer.Option(None, "--lengths", help="context lengths, e.g. 1k,4k,16k,64k")
BENCH_BATCHES = typer.Option(None, "--batch-sizes", help="batch sizes, e.g. 1,4")
BENCH_REPEATS = typer.Option(None, "--repeats", help="timed runs per point (median reported)  [default: 3]")
BENCH_WARMUP = typer.Option(None, "--warmup", help="untimed warm-up runs per point  [default: 1]")
BENCH_DECODE = typer.Option(None, "--decode-tokens", help="tokens decoded after each prefill  [default: 32]")


@bench_app.command("throughput")
def bench_throughput(
    model: str = MODEL,
    runner: str = RUNNER,
    model_args: str = MODEL_ARGS,
    lengths: str = BENCH_LENGTHS,
    batch_sizes: str = BENCH_BATCHES,
    repeats: int = BENCH_REPEATS,
    warmup: int = BENCH_WARMUP,
    decode_tokens: int = BENCH_DECODE,
    output_dir: Path = OUTPUT_DIR,
    config: Path = CONFIG,
) -> None:
    """Prefill and decode tokens/s and time to first token against context length and batch size."""
    _bench(
        "throughput",
        model,
        runner,
        model_args,
        lengths,
        batch_sizes,
        repeats,
        warmup,
        decode_tokens,
        output_dir,
        config,
    )


@bench_app.command("memory")
def bench_memory(
    model: str = MODEL,
    runner: str = RUNNER,
    model_args: str = MODEL_ARGS,
    lengths: str = BENCH_LENGTHS,
    batch_sizes: str = BENCH_BATCHES,
    repeats: int = BENCH_REPEATS,
    warmup: int = BENCH_WARMUP,
    decode_tokens: int = BENCH_DECODE,
    output_dir: Path = OUTPUT_DIR,
    config: Path = CONFIG,
) -> None:
    """Peak memory (RSS on CPU, CUDA max allocated on GPU) against context length and batch size."""
    _bench(
        "memory", model, runner, model_args, lengths, batch_sizes, repeats, warmup, decode_tokens, output_dir, config
    )


@app.command("train-demo")
def train_demo(
    output_dir: Path = typer.Option(Path("runs/train/hybrid"), "--output-dir", "-o", help="training directory"),
    layout: str = typer.Option("hybrid", "--layout", help="hybrid (1 attention : 7 Mamba) | mamba | attention"),
    seed: int = typer.Option(None, "--seed", help="training seed  [default: 0]"),
    steps: int = typer.Option(None, "--steps", help="optimizer steps  [default: 3000]"),
    tokens_per_step: int = typer.Option(None, "--tokens-per-step", help="tokens per batch  [default: 2048]"),
    min_length: str = typer.Option(None, "--min-length", help="first curriculum length  [default: 256]"),
    max_length: str = typer.Option(None, "--max-length", help="last curriculum length  [default: 2048]"),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads  [default: 1]"),
    export: Path = typer.Option(None, "--export", help="copy the final config.json + model.safetensors here"),
) -> None:
    """Train a small demo Jamba (byte tokenizer) on synthetic retrieval + plain text; resumes in --output-dir."""
    call(
        "jamba_eval.train.cli:cli_main",
        "jamba-eval train-demo",
        output_dir=output_dir,
        export=export,
        layout=layout,
        seed=seed,
        steps=steps,
        tokens_per_step=tokens_per_step,
        min_length=_length("--min-length", min_length),
        max_length=_length("--max-length", max_length),
        threads=threads,
    )


# ---------------------------------------------------------------------------------------------- the others


@app.command("memory")
def memory(
    preset: str = typer.Option(
        None,
        "--preset",
        help="jamba-v0.1, jamba-1.5-mini, mixtral-8x7b, llama-3.1-70b, ... (see `jamba-eval list presets`)",
    ),
    config: Path = typer.Option(None, "--config", help="a Hugging Face config.json instead of a preset"),
    length: str = typer.Option("256k", "--length", help=f"context length ({LENGTH_HELP})"),
    dtype: str = typer.Option("bf16", "--dtype", help="weights: bf16 | fp16 | fp32 | fp8 | int8 | experts-int8"),
    kv_dtype: str = typer.Option(None, "--kv-dtype", help="KV cache dtype  [default: 16-bit]"),
    gpu_memory: str = typer.Option(None, "--gpu-memory", help="GPU memory to fit into, e.g. 80GB (per GPU)"),
    gpus: int = typer.Option(1, "--gpus", help="number of GPUs sharing the model"),
    reserve: str = typer.Option(None, "--reserve", help="memory kept for activations/runtime, e.g. 4GB or 10%"),
    batch: int = typer.Option(1, "--batch", help="sequences held at once"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Analytic weights / KV-cache / Mamba-state memory and the largest context that fits a GPU."""
    call(
        "jamba_eval.tasks.efficiency:cli_memory",
        "jamba-eval memory",
        preset=preset,
        config=config,
        length=_length("--length", length),
        dtype=dtype,
        kv_dtype=kv_dtype,
        gpu_memory=gpu_memory,
        gpus=gpus,
        reserve=reserve,
        batch=batch,
        as_json=as_json,
    )


@app.command("report")
def report(
    results: list[Path] = typer.Argument(..., help="run directories, or folders holding them"),
    output: Path = typer.Option(Path("site"), "--output", "-o", help="folder for the static HTML site"),
) -> None:
    """Build a static HTML leaderboard (no server, no CDN) from run directories."""
    call("jamba_eval.reports.site:cli_main", "jamba-eval report", results=results, output=output)


@app.command("serve")
def serve(
    model: str = MODEL,
    runner: str = RUNNER,
    model_args: str = MODEL_ARGS,
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(8000, "--port", help="port to listen on"),
    served_model_name: str = typer.Option(None, "--served-model-name", help="name reported by /v1/models"),
    max_batch_size: int = typer.Option(8, "--max-batch-size", help="requests gathered into one runner call"),
) -> None:
    """Serve any runner behind an OpenAI-compatible API (/v1/completions, /v1/chat/completions)."""
    call(
        "jamba_eval.runners.server:cli_main",
        "jamba-eval serve",
        model=_model_overrides(runner, model, model_args),
        host=host,
        port=port,
        served_model_name=served_model_name,
        max_batch_size=max_batch_size,
    )


@app.command("list")
def list_things(
    what: str = typer.Argument("all", help="runners | tasks | models | presets | suites | all"),
) -> None:
    """List what can be run."""
    from jamba_eval.registry import RUNNERS, TASKS

    choices = ("runners", "tasks", "models", "presets", "suites", "all")
    if what not in choices:
        fail(f"cannot list {what!r}; choose one of: {', '.join(choices)}")
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    if what in ("runners", "all"):
        sections.append(
            ("runners", [(e.name, e.help + (f"  [extra: {e.extra}]" if e.extra else "")) for e in RUNNERS.entries()])
        )
    if what in ("tasks", "all"):
        sections.append(("tasks", [(e.name, e.help) for e in TASKS.entries()]))
    for section, target in (
        ("models", "jamba_eval.model.presets:list_models"),
        ("presets", "jamba_eval.tasks.efficiency:list_presets"),
        ("suites", "jamba_eval.tasks.academic:list_suites"),
    ):
        if what in (section, "all"):
            try:
                sections.append((section, call(target, f"listing {section}")))
            except UserError as exc:
                sections.append((section, [("-", str(exc))]))
    for title, rows in sections:
        typer.echo(f"{title}:")
        width = max((len(name) for name, _ in rows), default=0)
        for name, description in rows:
            typer.echo(f"  {name.ljust(width)}  {description}")


# ----------------------------------------------------------------------------------------------------- main


def hoist_global_options(args: list[str]) -> list[str]:
    """Move --verbosity/--no-progress to the front so they work before or after the subcommand."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg in GLOBAL_FLAGS or any(arg.startswith(o + "=") for o in GLOBAL_OPTIONS):
            front.append(arg)
        elif arg in GLOBAL_OPTIONS and i + 1 < len(args):
            front.extend(args[i : i + 2])
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM (e.g. `timeout`, a batch scheduler) unwinds like Ctrl-C, so run directories record "interrupted"."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script. Usage errors come from typer (exit 2); a UserError raised by the library
    prints one line and exits 2."""
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    signal.signal(signal.SIGTERM, _terminate)
    try:
        typer.main.get_command(app).main(args=args, prog_name="jamba-eval", standalone_mode=True)
    except UserError as exc:
        typer.echo(f"jamba-eval: error: {exc}", err=True)
        sys.exit(2)
