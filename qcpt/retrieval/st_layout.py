"""The sentence-transformers description of an encoder folder qcpt writes.

Every encoder folder the training jobs write (pre-trained encoders, retrievers 1 and 2, the BEIR
retriever) is a Hugging Face folder (``AutoModel`` loads it) and, through the files written here,
a sentence-transformers model that encodes exactly as qcpt does (:mod:`.vectors`):

- ``modules.json``: Transformer → Pooling (→ Normalize where qcpt L2-normalises);
- ``1_Pooling/config.json``: CLS or attention-masked mean pooling;
- ``sentence_bert_config.json``: ``max_seq_length`` = the passage length (``p_max_len``);
- ``config_sentence_transformers.json``: ``similarity_fn_name`` = ``cosine`` for normalised vectors
  (the inner product qcpt's FAISS search takes is then the cosine), ``dot`` otherwise;
- ``qcpt_pooling.json`` (qcpt's own record, read first by :func:`.vectors.declared_settings`):
  pooling, normalisation and both lengths.

The files use the long-standing layout (module types ``sentence_transformers.models.*``, pooling
flags ``pooling_mode_*``, ``max_seq_length`` in ``sentence_bert_config.json``) that
sentence-transformers 2 to 6 all load. sentence-transformers has one ``max_seq_length`` per model,
while qcpt truncates queries to ``q_max_len`` and passages to ``p_max_len`` tokens: the folder takes
the passage length, and a user reproduces qcpt's query vectors exactly by setting
``model.max_seq_length = q_max_len`` while encoding queries (identical anyway for queries shorter
than ``q_max_len`` tokens, i.e. nearly all). Passages are encoded as ``title + " " + text``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..core.io import write_json
from .vectors import DEFAULTS, POOLING_FILE, EncoderSettings

ST_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json")


def similarity_of(settings: EncoderSettings) -> str:
    """The sentence-transformers similarity that equals qcpt's inner-product score."""
    return "cosine" if settings.normalize else "dot"


def default_settings() -> EncoderSettings:
    """What qcpt reads a folder with when nothing is declared (:data:`.vectors.DEFAULTS`)."""
    return EncoderSettings(str(DEFAULTS["pooling"]), bool(DEFAULTS["normalize"]), int(DEFAULTS["p_max_len"]),
                           int(DEFAULTS["q_max_len"]))


def _hidden_size(folder: Path) -> int:
    config = folder / "config.json"
    try:
        return int(json.loads(config.read_text())["hidden_size"])
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{config}: no hidden_size to describe the pooled vector ({err})") from err


def write_encoder_description(folder: str | os.PathLike, settings: EncoderSettings) -> None:
    """Write ``qcpt_pooling.json`` and the sentence-transformers files into a saved ``AutoModel``
    folder (its ``config.json`` gives the vector size)."""
    folder = Path(folder)
    dim = _hidden_size(folder)
    write_json(folder / POOLING_FILE, {"pooling": settings.pooling, "normalize": settings.normalize,
                                       "q_max_len": settings.q_max_len, "p_max_len": settings.p_max_len})
    modules: list[dict[str, Any]] = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if settings.normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    write_json(folder / "modules.json", modules)
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": settings.p_max_len, "do_lower_case": False})
    write_json(folder / "config_sentence_transformers.json", {
        "model_type": "SentenceTransformer",
        "similarity_fn_name": similarity_of(settings),
        "prompts": {"query": "", "document": ""},
        "default_prompt_name": None,
    })
    (folder / "1_Pooling").mkdir(exist_ok=True)
    write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": settings.pooling == "cls",
        "pooling_mode_mean_tokens": settings.pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    })
