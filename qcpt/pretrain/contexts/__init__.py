"""Pre-training context kinds, one module each (:mod:`.span`, :mod:`.query`, :mod:`.mixed`, and the
staged schedules :mod:`.curriculum` and :mod:`.stage1`), and their registry (:mod:`.registry`): a new
kind is a new module that calls ``register`` and one line in ``registry.BUILTIN`` (or an entry point
of its own package)."""
