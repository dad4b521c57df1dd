"""Retrieval: BM25 (pyserini/Lucene), Tevatron-recipe fine-tuning, dense encoding, FAISS search and
evaluation (ir-measures). One module per stage; each ``main(argv)`` is a script of docs/artifacts.md:

- :mod:`.bm25` — commands ``retrieval.bm25:index``, ``retrieval.bm25:search``
- :mod:`.train_data` — ``retrieval.train_data`` (BM25 or mined hard negatives), and the reader
  fine-tuning reads that file with
- :mod:`.finetune` — ``retrieval.finetune.driver`` (bi-encoder, in-batch + cross-device negatives): a package of
  dataset, collator, modeling (the loss module) and driver, on the trainer base of :mod:`qcpt.training.trainer`
- :mod:`.encode` — ``retrieval.encode`` (one shard of a collection → ``.npz``)
- :mod:`.search` — ``retrieval.search`` (FAISS flat inner product → TREC run), over the shards as one
  exact index (:mod:`.shard_index`)
- :mod:`.evaluate` — ``retrieval.evaluate`` (metrics JSON with per-query values)

Shared pieces: :mod:`.runs` (run files, tie-breaking), :mod:`.data` (collection/topics/qrels),
:mod:`.vectors` (texts → vectors: pooling, model loading, length-sorted batched encoding; the library
:mod:`.encode` and :mod:`.search` share), :mod:`.params` (``--params`` dataclasses and parsing).
"""
