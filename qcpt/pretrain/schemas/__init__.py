"""Pre-training schemas, one module each (:mod:`.contrastive`, :mod:`.cotmae`, :mod:`.bottleneck`),
and their registry (:mod:`.registry`): a new schema is a new module that calls ``register`` and one
line in ``registry.BUILTIN`` (or an entry point of its own package)."""
