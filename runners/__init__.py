"""Runners: one whole-batch protocol over local PyTorch, vLLM and OpenAI-compatible servers."""
