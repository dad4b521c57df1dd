"""Query generation: prompts, sampling backends (registered in :mod:`.generators`), output parsing,
sharding and selection.

Kept free of heavy imports at package level: ``driver`` must also run under a separate interpreter
(a vLLM virtual environment) where only the standard library, ``qcpt`` itself and the backend's own
dependencies exist. ``torch``/``transformers`` are imported inside the Hugging Face backends.
"""
