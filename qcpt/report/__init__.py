"""The report: the papers' tables and figures rebuilt from our metrics files, ours beside theirs.

- :mod:`.paper_tables`: the papers' numbers as data, and how each row maps onto our cells;
- :mod:`.spec`: tables, figures and cells, and the config's names for the papers' vocabulary;
- :mod:`.build`: markdown/CSV tables with paired t-tests, PNG plots, ``index.md`` (CLI ``main``);
- :mod:`.plots`: matplotlib (Agg) curves and bars.

The rule file imports the light functions below when the DAG is built (no matplotlib/scipy there).
"""

from .paper_tables import (
    PAPERS,
    TABLE_SETS,
    artifacts,
    metrics_inputs,
    needed_metrics,
    output_files,
    report_entries,
    table_names,
)

__all__ = [
    "PAPERS", "TABLE_SETS", "artifacts", "metrics_inputs", "needed_metrics", "output_files", "report_entries",
    "table_names",
]
