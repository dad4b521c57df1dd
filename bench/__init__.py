"""Throughput benchmarks of the workflow's stages (``python bench/run.py``; see bench/README.md)."""
