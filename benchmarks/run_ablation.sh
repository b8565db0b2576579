#!/usr/bin/env bash
# The laptop-scale version of the Jamba paper's architecture ablation (arXiv 2403.19887 §6.1): the same recipe and
# budget (jamba-eval train-demo defaults: 1000 steps x 4096 tokens, seed 0, one thread) for three ~2.04M-weight
# models, then RULER retrieval and efficiency on each, then a table and plot (benchmarks/ablation_report.py).
# Usage: benchmarks/run_ablation.sh [ROOT]   (default runs/ablation; every step resumes where it stopped)
# Environment: LAYOUTS ("hybrid mamba attention"), SAMPLES (5), LENGTHS (1k,2k,4k,8k,16k),
# LONG_LENGTHS (32k,64k: hybrid and Mamba only, O(L) prefill), LONG_SAMPLES (2), THREADS (1).
set -euo pipefail
ROOT=${1:-runs/ablation}
LAYOUTS=${LAYOUTS:-hybrid mamba attention}
SAMPLES=${SAMPLES:-5}
LENGTHS=${LENGTHS:-1k,2k,4k,8k,16k}
LONG_LENGTHS=${LONG_LENGTHS:-32k,64k}
LONG_SAMPLES=${LONG_SAMPLES:-2}
THREADS=${THREADS:-1}
TASKS=niah_single_1,niah_single_2,niah_multikey_1,vt
for layout in $LAYOUTS; do
    dir=$ROOT/$layout
    jamba-eval --no-progress train-demo --layout "$layout" --threads "$THREADS" -o "$dir/train"
    args=(--model "$dir/train/model" --model-args "tokenizer=byte,threads=$THREADS")
    jamba-eval --no-progress run ruler "${args[@]}" --tasks $TASKS --lengths "$LENGTHS" --samples "$SAMPLES" \
        -o "$dir/ruler"
    if [ "$layout" != attention ] && [ -n "$LONG_LENGTHS" ]; then
        jamba-eval --no-progress run ruler "${args[@]}" --tasks $TASKS --lengths "$LONG_LENGTHS" \
            --samples "$LONG_SAMPLES" -o "$dir/ruler_long"
    fi
    jamba-eval --no-progress bench throughput "${args[@]}" --lengths 1k,4k,16k --repeats 2 --warmup 1 -o "$dir/throughput"
    jamba-eval --no-progress bench memory "${args[@]}" --lengths 4k,16k,64k --repeats 1 --warmup 0 -o "$dir/memory"
done
python benchmarks/ablation_report.py "$ROOT" -o benchmarks/results/ablation
