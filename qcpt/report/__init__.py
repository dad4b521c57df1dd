"""The report: the papers' tables and figures rebuilt from our metrics files, ours beside theirs.

- ``papers/*.yaml``: the papers' numbers as printed, data beside the builders that read them, and
  ``papers/claims-*.yaml`` the comparisons their texts claim;
- :mod:`.claims`, :mod:`.verdict`, :mod:`.verdict_table`: one verdict per claim (Δ, CI, Holm p),
  the table that leads the report;
- :mod:`.paper_tables`: how each row of the papers' tables maps onto our cells;
- :mod:`.demo_tables`: the demo set, every cell a config evaluates;
- :mod:`.catalogue`: which tables a config reports, the files they read and write (for the DAG);
- :mod:`.spec`: tables, figures and cells, and the config's names for the papers' vocabulary;
- :mod:`.stats`: metrics files read once, the paired t-test;
- :mod:`.build`: markdown/CSV tables (:mod:`qcpt.core.tabular`), PNG plots, ``index.md`` (CLI ``main``);
- :mod:`.plots`: matplotlib (Agg) curves and per-cell intervals over seeds.

The rule file imports the light functions below when the DAG is built (no matplotlib/scipy there).
"""

from .catalogue import (
    PAPERS,
    TABLE_SETS,
    artifacts,
    metrics_inputs,
    needed_metrics,
    output_files,
    report_artifacts,
    report_entries,
    table_names,
)

__all__ = [
    "PAPERS", "TABLE_SETS", "artifacts", "metrics_inputs", "needed_metrics", "output_files", "report_artifacts", "report_entries",
    "table_names",
]
