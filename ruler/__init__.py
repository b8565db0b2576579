"""RULER-style synthetic long-context tasks (NVIDIA RULER, arXiv 2404.06654), generated offline and scored as
NVIDIA does."""
