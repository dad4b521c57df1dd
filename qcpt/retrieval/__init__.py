"""Retrieval: BM25 (pyserini/Lucene), Tevatron-recipe fine-tuning, dense encoding, FAISS search and
evaluation (ir-measures). One module per stage; each ``main(argv)`` is a script of docs/artifacts.md:

- :mod:`.bm25` — ``bm25_index.py``, ``bm25_search.py``
- :mod:`.train_data` — ``make_train_data.py`` (BM25 or mined hard negatives)
- :mod:`.finetune` — ``finetune.py`` (bi-encoder, in-batch + cross-device negatives)
- :mod:`.encode` — ``encode.py`` (one shard of a collection → ``.npz``)
- :mod:`.search` — ``search.py`` (FAISS flat inner product → TREC run)
- :mod:`.evaluate` — ``evaluate.py`` (metrics JSON with per-query values)

Shared pieces: :mod:`.runs` (run files, tie-breaking), :mod:`.data` (collection/topics/qrels),
:mod:`.encoding` (pooling, length-sorted batched encoding), :mod:`.biencoder` (the loss module),
:mod:`.params` (``--params`` parsing).
"""
