"""RULER-style synthetic long-context tasks (NVIDIA RULER, arXiv 2404.06654), generated offline and scored as
NVIDIA does. Importing this package is cheap; the generators, runners and numpy load when used."""

from jamba_eval.ruler.aggregate import effective_length, last_passing_length

__all__ = ["effective_length", "last_passing_length"]
