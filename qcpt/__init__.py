"""qcpt: pre-training dense retrievers with generated queries as context, as a Snakemake workflow.

The package holds the logic; ``scripts/`` are thin command-line entry points the rules call.
"""

__version__ = "0.1.0"
