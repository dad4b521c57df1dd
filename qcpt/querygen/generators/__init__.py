"""Generator backends, one module each (:mod:`.hf_seq2seq`, :mod:`.hf_causal`, :mod:`.vllm_engine`,
:mod:`.precomputed`), and their registry (:mod:`.registry`): a new backend is a new module that calls
``register`` and one line in ``registry.BUILTIN`` (or an entry point of its own package)."""
