#!/usr/bin/env bash
# The laptop-scale version of the Jamba paper's architecture ablation (arXiv 2403.19887 §6.1): the same recipe and
# budget (jamba-eval train-demo defaults: 3000 steps x 2048 tokens, seed 0, one thread) for three ~2.04M-weight
# models, then RULER retrieval and efficiency on each, then a table and plot (benchmarks/ablation_report.py).
# Usage: benchmarks/run_ablation.sh [ROOT]   (default runs/ablation; every step resumes where it stopped)
# Environment (defaults = what the numbers in benchmarks/results/ablation came from): LAYOUTS ("hybrid mamba
# attention"), SAMPLES (3), LENGTHS (1k,2k,4k,8k,16k), ATTENTION_LENGTHS (1k,2k,4k,8k: pure attention prefills in
# O(L^2)), BENCH_LENGTHS (1k,4k,16k), MEMORY_LENGTHS (2k,4k,8k,16k), THREADS (1).
set -euo pipefail
ROOT=${1:-runs/ablation}
LAYOUTS=${LAYOUTS:-hybrid mamba attention}
SAMPLES=${SAMPLES:-3}
LENGTHS=${LENGTHS:-1k,2k,4k,8k,16k}
ATTENTION_LENGTHS=${ATTENTION_LENGTHS:-1k,2k,4k,8k}
BENCH_LENGTHS=${BENCH_LENGTHS:-1k,4k,16k}
MEMORY_LENGTHS=${MEMORY_LENGTHS:-2k,4k,8k,16k}
THREADS=${THREADS:-1}
TASKS=niah_single_1,niah_single_2,niah_multikey_1,vt
for layout in $LAYOUTS; do
    dir=$ROOT/$layout
    jamba-eval --no-progress train-demo --layout "$layout" --threads "$THREADS" -o "$dir/train"
    args=(--model "$dir/train/model" --model-args "tokenizer=byte,threads=$THREADS")
    lengths=$LENGTHS
    [ "$layout" = attention ] && lengths=$ATTENTION_LENGTHS
    jamba-eval --no-progress run ruler "${args[@]}" --tasks $TASKS --lengths "$lengths" --samples "$SAMPLES" \
        -o "$dir/ruler"
    jamba-eval --no-progress bench throughput "${args[@]}" --lengths "$BENCH_LENGTHS" --repeats 2 --warmup 1 \
        -o "$dir/throughput"
    jamba-eval --no-progress bench memory "${args[@]}" --lengths "$MEMORY_LENGTHS" --repeats 1 --warmup 0 \
        --decode-tokens 8 -o "$dir/memory"
done
python benchmarks/ablation_report.py "$ROOT" -o benchmarks/results/ablation
