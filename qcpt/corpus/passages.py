"""Documents → passages JSONL (``passages`` command): the documents read in batches, each batch
packed (:mod:`.packing`) in this process or in worker processes, the file written in input order.

The file does not depend on the number of workers. ``seed`` is carried for the workflow's
provenance beyond ``short_fraction``'s draws (the seeded permutation over passages is a separate
artifact, the passage order).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import multiprocessing
import multiprocessing.context
import os
import pickle
import sys
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from tqdm import tqdm

from ..core.io import InputError, atomic_open, read_jsonl, require_str
from ..core.params import parse_params, setup_logging
from .documents import one_line
from .packing import PassageMaker
from .params import PassageParams

log = logging.getLogger(__name__)


def iter_documents(path: str | os.PathLike) -> Iterator[tuple[str, str, str]]:
    seen: set[str] = set()
    for lineno, obj in read_jsonl(path):
        doc_id = require_str(path, lineno, obj, "id")
        if doc_id in seen:
            raise InputError(path, lineno, "id", f"duplicate id {doc_id!r}")
        seen.add(doc_id)
        title = require_str(path, lineno, obj, "title", allow_empty=True) if obj.get("title") is not None else ""
        yield doc_id, one_line(title), require_str(path, lineno, obj, "text")


def _batches(items: Iterator[tuple[str, str, str]], size: int) -> Iterator[list[tuple[str, str, str]]]:
    batch: list[tuple[str, str, str]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class BatchOutput:
    """A batch's passages as the JSONL text to write, with its totals and counters."""

    n_documents: int
    text: str
    n_passages: int
    n_tokens: int
    counts: Counter[str]


def render_batch(maker: PassageMaker, batch: list[tuple[str, str, str]]) -> BatchOutput:
    """The one place where rows become bytes: the serial loop and the workers both call it, so the
    file is the same whichever process made a batch."""
    maker.counts = Counter()
    lines: list[str] = []
    n_tokens = 0
    for row in maker.passages_for_batch(batch):
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
        n_tokens += row["n_tokens"]
    return BatchOutput(len(batch), "".join(lines), len(lines), n_tokens, maker.counts)


@dataclass(frozen=True)
class _ReadFailure:
    """Reading the documents failed here: raised only after the batches before it are written,
    as the serial loop would."""

    error: Exception


def _read_batches(documents: str | os.PathLike, size: int) -> Iterator[list[tuple[str, str, str]] | _ReadFailure]:
    try:
        yield from _batches(iter_documents(documents), size)
    except Exception as err:  # noqa: BLE001 (re-raised by the consumer, in input order)
        yield _ReadFailure(err)


# --------------------------------------------------------------------------- worker processes

_worker_maker: PassageMaker | None = None
_worker_error: Exception | None = None


def _init_worker(punkt: str, tokenizer: str, params: PassageParams) -> None:
    """Each worker loads Punkt and the tokenizer once. A failure is kept and raised by the worker's
    first batch, so it reaches the caller as itself (a raising initializer only breaks the pool:
    BrokenProcessPool, the error lost)."""
    global _worker_maker, _worker_error
    # One thread per worker: the pool is the parallelism (Rust tokenizer threads or OpenMP threads
    # on top of it would oversubscribe the cores). The tokenizers library reads its variable when
    # it encodes; torch, imported by the fork server already, is told directly below.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    try:
        _worker_maker = PassageMaker(punkt, tokenizer, params)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)
    except Exception as err:  # noqa: BLE001 (raised by _worker_batch)
        _worker_error = err


def _worker_batch(batch: list[tuple[str, str, str]]) -> BatchOutput:
    try:
        if _worker_error is not None:
            raise _worker_error
        assert _worker_maker is not None
        return render_batch(_worker_maker, batch)
    except Exception as err:
        # The pool pickles the error back to the parent; one that cannot be rebuilt there would
        # stop the pool's result thread (and hang make_passages), so it goes back as text.
        try:
            pickle.loads(pickle.dumps(err))
        except Exception:  # noqa: BLE001
            raise RuntimeError(f"passages worker: {type(err).__name__}: {err}") from None
        raise


def _pool_context() -> multiprocessing.context.BaseContext:
    """A fork server where there is one, else spawn: workers do not inherit the caller's state
    (torch's OpenMP pool, tqdm's monitor thread: forking a process with threads can deadlock). As
    with any spawned worker, a script that calls make_passages needs the ``if __name__ ==
    "__main__":`` guard; without it the workers fail to start and the pool reports itself broken.
    The fork server imports this module and the tokenizer classes (torch with them: ~2 s) once,
    so a worker only reads its two files; the list is the fork server's, read when it first starts
    (a module that fails to import there is skipped, and the worker imports it itself)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__, "transformers.models.auto.tokenization_auto"])
        return context
    return multiprocessing.get_context("spawn")


def _parallel_outputs(
    batches: Iterator[list[tuple[str, str, str]] | _ReadFailure], punkt: str | os.PathLike, tokenizer: str,
    params: PassageParams, workers: int,
) -> Iterator[BatchOutput]:
    """Batches through ``workers`` processes, results in input order. At most ``2 * workers``
    batches are in flight, so memory stays bounded (Pool.imap would read the whole input ahead
    into its task queue). A process pool executor, not multiprocessing.Pool: a worker that dies
    (killed for memory, failed to start) makes it raise BrokenProcessPool where Pool would
    replace the worker and wait for the lost batch forever."""
    max_in_flight = 2 * workers
    pending: deque[Future[BatchOutput]] = deque()
    failure: _ReadFailure | None = None
    executor = ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=_init_worker,
                                   initargs=(str(punkt), tokenizer, params))
    try:
        while True:
            while failure is None and len(pending) < max_in_flight:
                batch = next(batches, None)
                if batch is None:
                    break
                if isinstance(batch, _ReadFailure):
                    failure = batch
                    break
                pending.append(executor.submit(_worker_batch, batch))
            if not pending:
                break
            yield pending.popleft().result()
    finally:
        # On an error (or the caller closing this generator), batches not yet started are dropped.
        executor.shutdown(wait=True, cancel_futures=True)
    if failure is not None:
        raise failure.error


def make_passages(
    documents: str | os.PathLike, punkt: str | os.PathLike, tokenizer: str, out: str | os.PathLike,
    params: PassageParams | None = None, workers: int = 1,
) -> Counter[str]:
    """Write passages JSONL (docs/artifacts.md) atomically; returns the counters that were logged.

    ``workers`` > 1 makes batches of ``params.batch_documents`` documents in that many processes;
    the file and the counters are the same as with one (ids and target lengths depend only on the
    document, and batches are written in input order). It is not a param of the output: it never
    changes it. Documents are read (and checked) in this process, streamed."""
    params = params or PassageParams()
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    batches = _read_batches(documents, params.batch_documents)
    head: list[list[tuple[str, str, str]] | _ReadFailure] = []
    if workers > 1:
        # No more processes than batches: a small input (the demo) is not worth a pool.
        head = list(itertools.islice(batches, workers))
        workers = min(workers, sum(not isinstance(b, _ReadFailure) for b in head))
    batches = itertools.chain(head, batches)
    if workers > 1:
        outputs = _parallel_outputs(batches, punkt, tokenizer, params, workers)
    else:
        maker = PassageMaker(punkt, tokenizer, params)

        def serial() -> Iterator[BatchOutput]:
            for batch in batches:
                if isinstance(batch, _ReadFailure):
                    raise batch.error
                yield render_batch(maker, batch)

        outputs = serial()
    counts: Counter[str] = Counter()
    n_passages = 0
    token_total = 0
    # closing: an error here (a full disk) stops the workers at once, not when the generator is collected.
    with contextlib.closing(outputs), atomic_open(out) as handle, tqdm(desc="passages", unit=" docs", file=sys.stderr, mininterval=2) as bar:
        for output in outputs:
            handle.write(output.text)
            n_passages += output.n_passages
            token_total += output.n_tokens
            counts.update(output.counts)
            bar.update(output.n_documents)
        if n_passages == 0:
            raise InputError(documents, None, None, "no passages could be made (no documents, or no text)")
    counts["passages"] = n_passages
    log.info(
        "wrote %d passages (%.1f tokens on average, max_tokens=%d) from %d documents and %d sentences to %s%s",
        n_passages, token_total / n_passages, params.max_tokens, counts["documents"], counts["sentences"], out,
        f" ({workers} worker processes)" if workers > 1 else "",
    )
    log.info("counts: %s", json.dumps(dict(sorted(counts.items()))))
    return counts


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Split documents into sentences and pack them into passages.")
    parser.add_argument("--documents", required=True)
    parser.add_argument("--punkt", required=True, help="Punkt pickle from textmodels:punkt")
    parser.add_argument("--tokenizer", required=True, help="encoder folder or model spec whose tokenizer counts tokens")
    parser.add_argument("--out", required=True)
    parser.add_argument("--params", default="{}")
    parser.add_argument("--workers", type=_positive_int, default=1,
                        help="processes making passages (the rule's threads); the output does not depend on it")
    args = parser.parse_args(argv)
    setup_logging()
    params = parse_params(PassageParams, args.params)
    try:
        make_passages(args.documents, args.punkt, args.tokenizer, args.out, params, workers=args.workers)
    except InputError as err:
        log.error("%s", err)
        return 2
    return 0
