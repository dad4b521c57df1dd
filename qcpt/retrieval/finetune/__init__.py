"""``scripts/qcpt.py retrieval.finetune.driver``: fine-tune a dense retriever with the Tevatron recipe on HF Trainer.

    scripts/qcpt.py retrieval.finetune.driver --train train.jsonl --collection collection.jsonl --init DIR
        --out DIR --checkpoints DIR --log train_log.json --params '{...}'

- ``--train``: Tevatron training JSONL (``retrieval.train_data``): query, positive and negative docids.
- ``--collection``: collection JSONL the docids refer to (only the needed rows are kept in memory).
- ``--init``: the encoder to start from (folder, ``package:<module>/<path>``); its tokenizer is used.
- ``--out``: written atomically at the end: the encoder (``save_pretrained``: ``AutoModel`` loads
  it), its tokenizer, ``qcpt_pooling.json`` (``{"pooling", "normalize", "q_max_len", "p_max_len"}``, the defaults of
  encode/search), the sentence-transformers files of the same encoding (:mod:`qcpt.retrieval.st_layout`) and
  ``qcpt_finetune.json`` (parameters, data counts).
- ``--checkpoints``: Trainer checkpoints and the run's manifest (parameters, checksums of the
  training data, collection and init: :mod:`qcpt.training.checkpoints`); a rerun of a killed job resumes
  from the newest checkpoint when the manifest matches, and starts afresh (saying what changed) when
  it does not.
- ``--retention``: ``{"keep_last": N, "delete_after_final": bool}`` (default: the workflow's
  ``$QCPT_CHECKPOINT_RETENTION``, else keep 2 and delete them once the model is written).
- ``--log``: training-log JSON (docs/artifacts.md).
- ``--report-to``: training-curve loggers (default: the workflow's ``$QCPT_REPORT_TO``, else none);
  TensorBoard's event files go to ``tensorboard/`` beside ``--log``.

Each epoch, every query contributes 1 positive and ``train_n_passages - 1`` hard negatives drawn
afresh (:class:`.dataset.TrainDataset`); the loss sees all passages of the (cross-device) batch
(:mod:`.modeling`). Defaults are the papers' (lr 2e-5, 3 epochs, warmup 0.1, batch 8 queries per
device × 16 passages, query 32 / passage 144 tokens, CLS pooling, dot product, temperature 1).
Weight decay defaults to 0, Tevatron's default (HF Trainer's too). Passages are encoded as
``title + " " + text`` (:func:`qcpt.retrieval.data.passage_text`).

Modules, in the order data flows through them (Tevatron's layout, as :mod:`qcpt.pretrain`):
:class:`FinetuneParams` (:mod:`qcpt.retrieval.params`, import-light for config validation) — the
training JSONL's reader (:mod:`qcpt.retrieval.train_data`, beside its writer) — :mod:`.dataset` —
:mod:`.collator` — :mod:`.modeling` (the bi-encoder and its loss) — :mod:`.driver` (``main``, on
the trainer base of :mod:`qcpt.training.trainer`).
"""

from ..params import FinetuneParams
from .driver import main

__all__ = ["FinetuneParams", "main"]
