"""The corpus stage's job functions: one module per rule file (rules/corpus.smk -> :mod:`.corpus`,
rules/data.smk -> :mod:`.data`), one function per value a rule cannot read off a path template."""
