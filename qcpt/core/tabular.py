"""Text tables: markdown (pipe tables) and CSV, the one writer of the summary (:mod:`qcpt.report.summary`),
the reproduction check (:mod:`qcpt.report.expected`) and the report's pages (:mod:`qcpt.report.build`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

MISSING = "–"  # a number we do not have, in every table


def md_row(cells: Sequence[str | None]) -> str:
    """One line of a markdown table; a ``|`` inside a cell is escaped. ``None`` is an untitled
    column's header written without padding (``| |``, the reproduction check's status column);
    ``""`` is an empty cell padded like any other (``|  |``)."""
    return "|" + "|".join(" " if c is None else f" {_escape(c)} " for c in cells) + "|\n"


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def md_rule(align: str) -> str:
    """The line under the header: one letter per column, ``l`` (``---``) or ``r`` (``---:``)."""
    marks = {"l": "---", "r": "---:"}
    return "|" + "|".join(marks[a] for a in align) + "|\n"


def md_table(header: Sequence[str | None], rows: Iterable[Sequence[str | None]], align: str | None = None) -> str:
    """Header, rule and rows; ``align`` as :func:`md_rule` (default: every column left)."""
    align = "l" * len(header) if align is None else align
    if len(align) != len(header):
        raise ValueError(f"md_table: {len(align)} alignments for {len(header)} columns")
    return md_row(header) + md_rule(align) + "".join(md_row(row) for row in rows)


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    """Rows as CSV (``\\n`` line ends, the csv module's quoting)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()
