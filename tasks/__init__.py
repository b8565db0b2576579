"""Tasks beyond RULER: academic benchmarks (lm-eval bridge), Arena-Hard judging, efficiency measurements."""
