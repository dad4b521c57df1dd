"""The retrieval stage's job functions: one module per rule file (rules/bm25.smk -> :mod:`.bm25`,
rules/finetune.smk -> :mod:`.finetune`, rules/evaluate.smk -> :mod:`.evaluate`), one function per
value a rule cannot read off a path template."""
