"""qcpt: pre-training dense retrievers with generated queries as context, as a Snakemake workflow.

The package holds the logic; ``scripts/qcpt.py <command>`` is the one command-line entry point
the rules call (the command table: :mod:`qcpt.cli`), and :mod:`qcpt.workflow` says what each job
reads and gets.
"""

__version__ = "0.1.0"
