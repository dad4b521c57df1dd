"""Reference scores checked against our runs, in the manner of pyserini's two-click reproductions.

A config's ``expected`` block names metrics files by ``<evalset>/<system>`` (their folder under
``<results>/eval/``) and, for each, the scores a correct pipeline reproduces::

    expected:
      tolerance: 0.005
      scores:
        scifact-test/bm25: {nDCG@10: 0.6789, R@100: 0.9253}
        scifact-test/zeroshot/ext/minilm: {nDCG@10: 0.6451}

Rule ``check_expected`` reads those metrics files and writes ``reproduction.{md,json}``: each
expected score beside ours, the difference and OK/FAIL. Any score off by more than the tolerance (or
missing from its metrics file) fails the job, with the whole table in its log, so a broken
reproduction cannot pass unnoticed inside a long ``snakemake`` run.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from dataclasses import asdict, dataclass
from typing import Any

from ..config import metrics_path
from ..core.io import InputError, atomic_open, read_metrics
from ..core.tabular import MISSING, md_table

DEFAULT_TOLERANCE = 0.005


@dataclass(frozen=True)
class Check:
    system: str            # <evalset>/<system>, as in the config
    measure: str
    expected: float
    ours: float | None     # None: the metrics file has no such measure
    tolerance: float

    @property
    def delta(self) -> float | None:
        return None if self.ours is None else self.ours - self.expected

    @property
    def ok(self) -> bool:
        # A hair of slack on the bound: 0.6789 vs 0.6839 must pass at ±0.005 despite float rounding.
        return self.delta is not None and abs(self.delta) <= self.tolerance + 1e-12


def expected_scores(config: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{"<evalset>/<system>": {measure: value}}`` of the config's ``expected`` block (empty if none)."""
    return {k: {m: float(v) for m, v in scores.items()}
            for k, scores in config.get("expected", {}).get("scores", {}).items()}


def tolerance(config: dict[str, Any]) -> float:
    return float(config.get("expected", {}).get("tolerance", DEFAULT_TOLERANCE))


def compare(expected: dict[str, dict[str, float]], measured: dict[str, dict[str, float]],
            tol: float) -> list[Check]:
    """One :class:`Check` per expected score; ``measured`` maps the same keys to a metrics file's
    ``measures``."""
    return [Check(key, measure, value, measured[key].get(measure), tol)
            for key, scores in expected.items() for measure, value in scores.items()]


def _fmt(value: float | None, signed: bool = False) -> str:
    return MISSING if value is None else (f"{value:+.4f}" if signed else f"{value:.4f}")


def to_markdown(checks: list[Check]) -> str:
    out = io.StringIO()
    failed = sum(not c.ok for c in checks)
    out.write(f"# Reproduction check: {len(checks) - failed} of {len(checks)} scores within ±{checks[0].tolerance:g}\n\n"
              if checks else "# Reproduction check: nothing expected\n\n")
    rows = [[c.system, c.measure, f"{c.expected:.4f}", _fmt(c.ours), _fmt(c.delta, True),
             "OK" if c.ok else ("FAIL (measure missing)" if c.ours is None else "FAIL")] for c in checks]
    out.write(md_table(["system", "measure", "expected", "ours", "Δ", None], rows))  # None: untitled status
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="the results folder (metrics under <root>/eval/)")
    parser.add_argument("--expected", required=True, help='JSON: {"<evalset>/<system>": {measure: value}}')
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-json", required=True)
    args = parser.parse_args(argv)
    expected = json.loads(args.expected)
    try:
        measured = {key: {m: float(v) for m, v in read_metrics(metrics_path(args.root, key))["measures"].items()}
                    for key in expected}
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    checks = compare(expected, measured, args.tolerance)
    table = to_markdown(checks)
    print(table)
    failed = [c for c in checks if not c.ok]
    if failed:
        # No output files: the job fails and Snakemake reports it; this log keeps the table.
        print(f"error: {len(failed)} of {len(checks)} expected scores not reproduced within ±{args.tolerance:g}: "
              + "; ".join(f"{c.system} {c.measure} expected {c.expected:.4f}, got {_fmt(c.ours)}" for c in failed),
              file=sys.stderr)
        return 1
    with atomic_open(args.out_md) as handle:
        handle.write(table)
    with atomic_open(args.out_json) as handle:
        json.dump({"tolerance": args.tolerance, "checks": [{**asdict(c), "delta": c.delta, "ok": c.ok} for c in checks]},
                  handle, indent=1)
        handle.write("\n")
    return 0
