"""The summary table: one row per cell the config evaluates (its seed replicates are one row), one
column per measure (the mean over the cell's seeds, ± their sd from 2 seeds on), and for each
pre-trained cell with another context than ``span`` its difference from the same schema's span cell
in the same setting (zero-shot, or the same fine-tuning dataset and stage) on the main measure
(nDCG@10 where measured): the mean over seeds of the per-seed Δ, ± its sd between seeds, with a
paired two-tailed t-test over the evalset's queries on the seed-averaged per-query scores (each
query's score averaged over the cell's seeds): the papers' comparison, readable without the report."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from ..core.io import atomic_open
from ..core.tabular import MISSING, csv_text, md_table
from ..workflow import cells, grid
from .demo_tables import unseeded

# nDCG@10 first: it reads the whole top 10 (MRR@10 only the first relevant passage), so its per-query
# scores vary less and a seed-averaged comparison has more power; it is the demo's headline measure.
MAIN_MEASURES = ("nDCG@10", "MRR@10")
SPAN_CONTEXT = "span"


def span_counterpart(system: str) -> str | None:
    """The span-context cell a pre-trained cell is compared with: ``zeroshot/pt/C/S/ctx`` →
    ``zeroshot/pt/C/S/span``, ``D/pt/C/S/ctx/retrieverN`` → ``D/pt/C/S/span/retrieverN``; None for
    BM25, the base and external encoders, and span cells themselves. A seed replicate's counterpart
    is the same seed's."""
    return cells.counterpart(system, SPAN_CONTEXT)


def replicate_seed(system: str) -> int | None:
    """A seed replicate's own seed (None: the config's seed, or no pre-trained cell)."""
    if system == cells.BM25:
        return None
    encoder = cells.parse_encoder(cells.parse_model_key(system).encoder)
    return cells.parse_context(encoder.context).seed if encoder.kind == "pt" else None


def seed_average(per_seed: list[dict[str, float]]) -> dict[str, float]:
    """Per query, the mean over the seeds (the queries every seed scores)."""
    shared = set(per_seed[0]).intersection(*per_seed[1:])
    return {q: sum(s[q] for s in per_seed) / len(per_seed) for q in sorted(shared)}


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    return sum(values) / len(values), statistics.stdev(values) if len(values) > 1 else None


def _with_sd(mean: float, sd: float | None, signed: bool = False) -> str:
    text = f"{mean:+.4f}" if signed else f"{mean:.4f}"
    return text if sd is None else f"{text} ± {sd:.4f}"


def summary_rows(root: str, metrics_paths: list[str]) -> tuple[list[dict[str, str]], list[str]]:
    """Rows ``{"evalset", "system", "seeds", <measure>: mean[ ± sd], "vs", "Δ <main>", "p"}`` (one
    per cell, seed replicates merged) and the ordered column names after evalset and system (seeds,
    the measures, then the comparison columns where any row has a span counterpart in the table).
    Each row also carries the plain numbers the CSV writes (keys starting with ``_``)."""
    from .stats import paired_ttest

    measures: list[str] = []
    loaded: dict[tuple[str, str], dict] = {}
    groups: dict[tuple[str, str], list[str]] = {}  # (evalset, cell) -> its replicates' systems
    for path in metrics_paths:
        evalset, system = grid.parse_metrics_path(root, path)
        data = json.loads(Path(path).read_text())
        loaded[evalset, system] = data
        measures += [m for m in data["measures"] if m not in measures]
        groups.setdefault((evalset, unseeded(system)), []).append(system)
    main = next((m for m in MAIN_MEASURES if m in measures), measures[0] if measures else None)
    rows: list[dict[str, str]] = []
    compared = seeded = False
    for (evalset, cell), systems in groups.items():
        systems.sort(key=lambda s: (replicate_seed(s) is not None, replicate_seed(s) or 0))
        seeded |= len(systems) > 1
        row = {"evalset": evalset, "system": cell, "seeds": str(len(systems))}
        for name in measures:
            values = [loaded[evalset, s]["measures"][name] for s in systems if name in loaded[evalset, s]["measures"]]
            if values:
                mean, sd = _mean_sd(values)
                row[name] = _with_sd(mean, sd)
                row[f"_{name}"], row[f"_{name} sd"] = f"{mean:.6f}", "" if sd is None else f"{sd:.6f}"
        rows.append(row)
        if main is None:
            continue
        pairs = [(loaded[evalset, s], loaded.get((evalset, span_counterpart(s) or ""))) for s in systems]
        if not pairs or any(b is None or main not in o["measures"] or main not in b["measures"] for o, b in pairs):
            continue  # a comparison needs the same seeds of the span cell
        compared = True
        row["vs"] = unseeded(span_counterpart(systems[0]) or "")
        delta, sd = _mean_sd([o["measures"][main] - b["measures"][main] for o, b in pairs])  # type: ignore[index]
        row[f"Δ {main}"] = _with_sd(delta, sd, signed=True)
        row["_delta"], row["_delta sd"] = f"{delta:.6f}", "" if sd is None else f"{sd:.6f}"
        pq_ours = [o.get("per_query", {}).get(main) for o, _ in pairs]
        pq_base = [b.get("per_query", {}).get(main) for _, b in pairs]  # type: ignore[union-attr]
        p_value, n = None, 0
        if all(pq_ours) and all(pq_base):
            p_value, n = paired_ttest(seed_average(pq_ours), seed_average(pq_base))  # type: ignore[arg-type]
        row["p"] = MISSING if p_value is None else f"{p_value:.2g} (n={n})"
        row["_p"], row["_n"] = "" if p_value is None else f"{p_value:.6g}", str(n)
    columns = [*(["seeds"] if seeded else []), *measures, *(["vs", f"Δ {main}", "p"] if compared else [])]
    return rows, columns


def to_markdown(rows: list[dict[str, str]], columns: list[str]) -> str:
    header = ["evalset", "system", *columns]
    return md_table(header, [[row.get(h, MISSING) for h in header] for row in rows])


def to_csv(rows: list[dict[str, str]], columns: list[str]) -> str:
    """Plain numbers: each measure's mean and sd over seeds, the Δ's mean and sd, p and its n."""
    header = ["evalset", "system", "seeds"]
    for name in columns:
        if name.startswith("Δ "):
            header += [name, f"{name} sd"]
        elif name == "p":
            header += ["p", "n_queries"]
        elif name != "seeds":
            header += [name] if name == "vs" else [name, f"{name} sd"]
    plain = {"p": "_p", "n_queries": "_n"}
    lines = []
    for row in rows:
        line = []
        for h in header:
            if h.startswith("Δ "):
                key = "_delta sd" if h.endswith(" sd") else "_delta"
            else:
                key = plain.get(h, h if h in ("evalset", "system", "seeds", "vs") else f"_{h}")
            line.append(row.get(key, ""))
        lines.append(line)
    return csv_text([header, *lines])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True, help="the results folder")
    parser.add_argument("--metrics", nargs="+", required=True)
    parser.add_argument("--out-md", required=True)
    parser.add_argument("--out-csv", required=True)
    args = parser.parse_args(argv)
    rows, columns = summary_rows(args.root, args.metrics)
    note = ""
    if "seeds" in columns:
        note += ("\nA row is one cell over its seed replicates (`seeds`): each measure's mean ± its sd "
                 "between seeds.\n")
    if "vs" in columns:
        main_measure = next(c for c in columns if c.startswith("Δ "))[2:]
        note += (f"\n`vs`: the same schema's span-context cell in the same setting, at the same seeds; "
                 f"`Δ {main_measure}`: the mean over seeds of the per-seed Δ (± its sd between seeds); `p`: "
                 "paired two-tailed t-test (scipy.stats.ttest_rel) over the queries, on each cell's "
                 "seed-averaged per-query scores.\n")
    with atomic_open(args.out_md) as handle:
        handle.write("# qcpt summary\n\n" + to_markdown(rows, columns) + note)
    with atomic_open(args.out_csv) as handle:
        handle.write(to_csv(rows, columns))
    return 0
