"""Tiny randomly initialised generators, built offline, for smoke tests and CPU dry runs.

No real T5/LLaMA weights can be downloaded here, yet every backend must be exercised end to end:
these builders train a small tokenizer on given texts and save a random-weight model folder that
``from_pretrained`` (and vLLM) load like any other. Their queries are noise, their format is real.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..core.io import atomic_dir

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 512):
    """A byte-level BPE tokenizer (every string, newlines included, round-trips) with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    # Llama tokenizers prepend BOS to plain prompts (a chat template writes its own markers).
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"], chat_template=CHAT_TEMPLATE,
    )


def build_wordpiece_tokenizer(texts: Iterable[str], vocab_size: int = 1000):
    """A BERT-style uncased WordPiece tokenizer ([PAD]/[UNK]/[CLS]/[SEP]/[MASK])."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(list(texts), trainer=trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    return BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", sep_token="[SEP]",
                             pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")


def _save_initialised(model_class: Any, config: Any, tokenizer: Any, out: str | os.PathLike, seed: int) -> Path:
    """``model_class(config)`` initialised from ``seed``, saved with ``tokenizer`` as one folder."""
    import torch

    torch.manual_seed(seed)
    model = model_class(config)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return Path(out)


def build_tiny_llama(out: str | os.PathLike, texts: Iterable[str], *, seed: int = 0) -> Path:
    """A 2-layer Llama (hidden 128, head_dim 64) with a BPE tokenizer trained on ``texts``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_bpe_tokenizer(texts)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, head_dim=64, max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )
    return _save_initialised(LlamaForCausalLM, config, tokenizer, out, seed)


def build_tiny_t5(out: str | os.PathLike, texts: Iterable[str], *, seed: int = 0) -> Path:
    """A 1+1-layer T5 (d_model 64) with a WordPiece tokenizer trained on ``texts``."""
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = build_wordpiece_tokenizer(texts)
    tokenizer.eos_token = tokenizer.sep_token
    config = T5Config(
        vocab_size=len(tokenizer), d_model=64, d_ff=128, d_kv=16, num_layers=1, num_decoder_layers=1,
        num_heads=4, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    return _save_initialised(T5ForConditionalGeneration, config, tokenizer, out, seed)
