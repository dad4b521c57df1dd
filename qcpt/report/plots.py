"""PNG plots (matplotlib, Agg backend): curriculum curves and per-cell intervals over seeds. Written
atomically."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..core.io import atomic_path
from .spec import BarFigure, CurveFigure

PAPER_GREY = "0.45"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on cluster nodes; must precede importing pyplot
    import matplotlib.pyplot as plt

    return plt


def amount_label(amount: int) -> str:
    """50000 -> 50k, 100000 -> 0.1M, 8841823 -> 8.8M (the paper's tick labels)."""
    if amount < 1000:
        return str(amount)
    if amount < 100_000:
        return f"{amount / 1000:g}k"
    return f"{round(amount / 1e6, 1):g}M"


def _save(fig: Any, path: str | Path, dpi: int) -> None:
    plt = _pyplot()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def curve_png(
    path: str | Path,
    figure: CurveFigure,
    values: dict[tuple[int, str], float | None],
    dpi: int = 150,
) -> None:
    """One panel per (evalset, measure): ours against the amount of query-expanded passages (log x),
    our span baseline and the paper's baseline as dashed lines. ``values[(panel, system)]`` is on
    the figure's scale; missing points are left out."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(figure.panels), figsize=(5.2 * len(figure.panels), 3.8), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    all_amounts = sorted({a for line in figure.lines for a, _ in line.points})
    for i, (ax, panel) in enumerate(zip(axes[0], figure.panels, strict=True)):
        drawn = False
        for j, line in enumerate(figure.lines):
            pts = [(a, values.get((i, s))) for a, s in line.points]
            pts = [(a, v) for a, v in pts if v is not None]
            if pts:
                ax.plot([a for a, _ in pts], [v for _, v in pts], marker="o", color=colors[j % len(colors)],
                        label=f"ours: {line.label}")
                drawn = True
        base = values.get((i, figure.baseline_system)) if figure.baseline_system else None
        if base is not None:
            ax.axhline(base, linestyle="--", color=colors[0], alpha=0.7, label="ours: span baseline")
            drawn = True
        if panel.paper_baseline is not None:
            ax.axhline(panel.paper_baseline, linestyle="--", color=PAPER_GREY, label=figure.paper_baseline_source)
        if not drawn:
            ax.text(0.5, 0.5, "no results of ours yet", transform=ax.transAxes, ha="center", va="center",
                    color=PAPER_GREY)
        if all_amounts:
            ax.set_xscale("log")
            ax.set_xticks(all_amounts)
            ax.set_xticklabels([amount_label(a) for a in all_amounts], rotation=45, fontsize=8)
            ax.minorticks_off()
            pad = math.sqrt(all_amounts[-1] / all_amounts[0]) ** 0.08 if all_amounts[0] > 0 else 1.0
            ax.set_xlim(all_amounts[0] / pad, all_amounts[-1] * pad)
        ax.set_xlabel("passages with generated queries (curriculum stage 2)")
        ax.set_ylabel(panel.label)
        ax.set_title(panel.label, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(figure.title, fontsize=11)
    fig.tight_layout()
    _save(fig, path, dpi)


def bars_png(
    path: str | Path,
    figure: BarFigure,
    values: dict[str, float | None],
    dpi: int = 150,
    seeds: dict[str, list[float]] | None = None,
) -> tuple[float, float]:
    """One row per encoder, one marker per setting: the mean over the cell's seed replicates with
    an interval of ± their sd (2 seeds on), each seed's own value as a small dot; BM25 as a dashed
    line. The axis spans the values (it does not start at 0: the differences are the point).
    ``values[system]`` (the mean) and ``seeds[system]`` (per seed) are on the figure's scale. Returns
    the value axis' limits."""
    import statistics

    plt = _pyplot()
    seeds = seeds or {}
    n = max(1, len(figure.bars))
    fig, ax = plt.subplots(figsize=(7.5, 1.0 + 0.45 * n * max(1, len(figure.settings)) ** 0.5))
    height = 0.8 / max(1, len(figure.settings))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn = False
    shown: list[float] = []
    for k, setting in enumerate(figure.settings):
        color = colors[k % len(colors)]
        ys, xs, errs = [], [], []
        for i, (_, by_setting) in enumerate(figure.bars):
            system = by_setting.get(setting, "")
            value = values.get(system)
            if value is None:
                continue
            y = i + (k - (len(figure.settings) - 1) / 2) * height
            per_seed = seeds.get(system, [])
            sd = statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0
            ys.append(y)
            xs.append(value)
            errs.append(sd)
            shown += [value - sd, value + sd, *per_seed]
            if len(per_seed) > 1:
                ax.scatter(per_seed, [y] * len(per_seed), s=9, color=color, alpha=0.45, zorder=2)
        if xs:
            ax.errorbar(xs, ys, xerr=errs, fmt="o", color=color, capsize=3, markersize=5, zorder=3,
                        label=setting)
            drawn = True
    if figure.reference is not None and values.get(figure.reference[1]) is not None:
        ax.axvline(values[figure.reference[1]], linestyle="--", color=PAPER_GREY, label=figure.reference[0])
        shown.append(values[figure.reference[1]])  # type: ignore[arg-type]
        drawn = True
    if shown:
        low, high = min(shown), max(shown)
        pad = max((high - low) * 0.08, 1e-3 * max(abs(high), 1.0))
        ax.set_xlim(low - pad, high + pad)
    ax.set_yticks(range(len(figure.bars)))
    ax.set_yticklabels([label for label, _ in figure.bars], fontsize=8)
    ax.set_ylim(len(figure.bars) - 0.5, -0.5)  # first encoder on top
    ax.set_xlabel(f"{figure.measure} (mean ± sd over seeds; dots: each seed)")
    ax.set_title(figure.title, fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    if drawn:
        ax.legend(fontsize=7, loc="best")
    else:
        ax.text(0.5, 0.5, "no results of ours yet", transform=ax.transAxes, ha="center", va="center",
                color=PAPER_GREY)
    fig.tight_layout()
    limits = ax.get_xlim()
    _save(fig, path, dpi)
    return float(limits[0]), float(limits[1])


def length_histogram_png(path: str | Path, histograms: dict[str, dict[int, int]], dpi: int = 150) -> None:
    """Query length (tokens) distribution per query file, as the share of its queries (step lines);
    an empty plot says so when no audit is present."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, hist in histograms.items():
        total = sum(hist.values()) or 1
        xs = list(range(min(hist, default=0), max(hist, default=0) + 1))
        ax.step(xs, [hist.get(x, 0) / total for x in xs], where="mid", label=label)
    if histograms:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no audit built yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("query length (tokens)")
    ax.set_ylabel("share of queries")
    ax.set_title("Generated query lengths")
    _save(fig, path, dpi)
