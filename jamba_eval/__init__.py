"""jamba-eval: a long-context evaluation suite built around AI21's Jamba (arXiv 2403.19887, 2408.12570).

Importing the package is cheap: heavy modules (torch, transformers, vLLM, lm-eval) load only when used.
"""

__version__ = "0.1.0"
