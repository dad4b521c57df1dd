"""``scripts/qcpt.py querygen.gguf``: dequantise a GGUF causal LM once into a safetensors folder.

Loading a GGUF file through transformers dequantises every tensor, which takes seconds to tens of
seconds each time; doing it once and saving a plain Hugging Face folder lets every generation shard
(and vLLM, which reads safetensors folders) load it in a fraction of a second.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..core.io import atomic_dir, sha256_file, write_json
from ..core.models import load_pretrained, load_tokenizer, resolve_model_path

log = logging.getLogger(__name__)


def find_gguf(source: str) -> Path:
    """The GGUF file a spec points at: the file itself, or the only ``*.gguf`` in a folder."""
    path = Path(resolve_model_path(source))
    if path.is_file():
        if path.suffix != ".gguf":
            raise ValueError(f"{source!r} resolves to {path}, which is not a .gguf file")
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"{source!r}: {path} does not exist")
    found = sorted(path.glob("*.gguf"))
    if not found:
        raise FileNotFoundError(f"{source!r}: no .gguf file in {path}")
    if len(found) > 1:
        names = ", ".join(f.name for f in found)
        raise ValueError(f"{source!r}: several .gguf files in {path} ({names}); name one: {source.rstrip('/')}/<file>.gguf")
    return found[0]


def prepare_gguf_model(source: str, out: str) -> Path:
    from transformers import AutoConfig, AutoModelForCausalLM

    gguf = find_gguf(source)
    log.info("dequantising %s", gguf)
    tokenizer = load_tokenizer(gguf.parent, gguf_file=gguf.name)
    quantized = load_pretrained(AutoModelForCausalLM, gguf.parent, gguf_file=gguf.name)
    # The loaded model stays marked as GGUF-quantised (and so refuses save_pretrained) although its
    # tensors are already dequantised; move them into a plain model built from the same config.
    config_dict = quantized.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=quantized.dtype)
    missing, unexpected = model.load_state_dict(quantized.state_dict(), strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or {})
    really_missing = [k for k in missing if k not in tied]
    if really_missing or unexpected:
        raise RuntimeError(f"GGUF weights do not fit the model: missing {really_missing[:5]}, unexpected {unexpected[:5]}")
    model.generation_config = quantized.generation_config
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(Path(tmp) / "qcpt_source.json", {
            "source": source, "gguf_file": gguf.name, "gguf_sha256": sha256_file(gguf),
            "architecture": type(model).__name__,
        })
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Dequantise a GGUF model once into a safetensors Hugging Face folder.")
    parser.add_argument("--source", required=True,
                        help="model spec: a .gguf file, a folder holding one, or package:<module>/<sub>")
    parser.add_argument("--out", required=True, help="output model folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    prepare_gguf_model(args.source, args.out)
    log.info("wrote %s", args.out)
    return 0
