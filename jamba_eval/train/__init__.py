"""Training the demo models (jamba-tiny and the hybrid / Mamba / attention ablation) with our own Jamba."""
