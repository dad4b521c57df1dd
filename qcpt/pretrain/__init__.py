"""Pre-training dense-retrieval encoders with passage or generated-query contexts.

Modules, in the order data flows through them:

- :mod:`.arguments` — ``--params`` → :class:`PretrainParams` (paper defaults per schema; the trainer
  fields are :class:`qcpt.training.params.TrainerParams`', shared with fine-tuning);
- :mod:`.data` — passages and generated-query pools → ``(passage, context)`` examples, the context
  drawn as its kind says (:mod:`.contexts`: one module per kind, and their registry);
- :mod:`.masking` / :mod:`.collator` — tokenisation, whole-word MLM masking, padding;
- :mod:`.objectives` — one loss module per schema (``contrastive``, ``cotmae``, ``bottleneck``) and
  the registry that builds them (not to be confused with :mod:`qcpt.schemas`, the config schema);
- :mod:`.heads` — saving the heads beside the encoder for the curriculum's second stage;
- :mod:`.driver` — ``main(argv)``, the single entry point (``scripts/qcpt.py pretrain.driver``), on
  one process or under ``torchrun``, on the trainer base of :mod:`qcpt.training.trainer`;
- :mod:`.tiny` — a tiny WordPiece tokenizer and BERT for tests and smoke runs.
"""
