"""Our Jamba implementation (arXiv 2403.19887, 2408.12570)."""
