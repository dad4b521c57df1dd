"""The generator spec: which model, which prompt, which sampling settings.

A spec arrives as one JSON object (``--generator``). Keys left out take the paper defaults of the
prompt family: docT5query (paper 1, section 3: prefix ``text2query: ``, nucleus sampling with
top_p 0.95 and top_k 25, max length 64, a pool of 20 per passage, one query per returned sequence)
and the LLM prompts of paper 2 (top_p 0.95, top_k 50, temperature 0.7).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.params import ParamsError, check_types, unknown_key
from .generators import registry as backend_registry

PROMPT_FAMILIES = ("doct5query", "alpaca-zeroshot", "alpaca-figure1", "tk-instruct-fewshot", "chat-zeroshot")
DTYPES = ("auto", "float32", "bfloat16", "float16")
WORKFLOW_KEYS = frozenset({"python", "train"})


@dataclass(frozen=True)
class FewShotExample:
    input: str
    output: str


# Hand-written demonstrations for the tk-instruct few-shot prompt (paper 2 wrote its own too; theirs
# are not published). One question-style and one phrase-style query, as the definition asks.
DEFAULT_FEW_SHOT_EXAMPLES: tuple[FewShotExample, ...] = (
    FewShotExample(
        input=(
            "The Great Barrier Reef, off the coast of Queensland, Australia, is the world's largest "
            "coral reef system. It is composed of over 2,900 individual reefs and 900 islands "
            "stretching over 2,300 kilometres."
        ),
        output="how long is the great barrier reef",
    ),
    FewShotExample(
        input=(
            "Vitamin D helps the body absorb calcium and phosphate from food. Without enough of it, "
            "bones can become thin, brittle or misshapen, a condition called rickets in children "
            "and osteomalacia in adults."
        ),
        output="vitamin d deficiency effects on bones",
    ),
)

# Paper defaults per prompt family; anything here can be overridden in the spec.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "doct5query": dict(
        backend="hf-seq2seq", pool_size=20, queries_per_generation=1,
        top_p=0.95, top_k=25, temperature=1.0, max_new_tokens=64,
    ),
    "tk-instruct-fewshot": dict(
        backend="hf-seq2seq", pool_size=10, queries_per_generation=1,
        top_p=0.95, top_k=50, temperature=0.7, max_new_tokens=64,
    ),
    "alpaca-zeroshot": dict(
        backend="hf-causal", pool_size=10, queries_per_generation=10,
        top_p=0.95, top_k=50, temperature=0.7, max_new_tokens=256,
    ),
    "chat-zeroshot": dict(
        backend="hf-causal", pool_size=10, queries_per_generation=10,
        top_p=0.95, top_k=50, temperature=0.7, max_new_tokens=256,
    ),
}
# LLM Figure 1's Alpaca prompt as printed (no preamble): alpaca-zeroshot's generation settings.
FAMILY_DEFAULTS["alpaca-figure1"] = FAMILY_DEFAULTS["alpaca-zeroshot"]


@dataclass(frozen=True)
class GeneratorSpec:
    name: str
    model: str
    prompt: str
    backend: str
    pool_size: int
    queries_per_generation: int
    top_p: float
    top_k: int
    temperature: float
    max_new_tokens: int
    max_input_tokens: int = 512
    batch_size: int = 8
    max_attempts: int = 3
    seed: int = 42
    tensor_parallel_size: int = 1
    dtype: str = "auto"
    few_shot_examples: tuple[FewShotExample, ...] = DEFAULT_FEW_SHOT_EXAMPLES
    include_title: bool = False
    max_query_chars: int = 160
    max_query_words: int = 20
    distinct_queries: bool = True  # false: every sample kept as sampled, repeats and all, one round (the QAC code)
    max_model_len: int | None = None
    engine_args: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> GeneratorSpec:
        if not isinstance(raw, dict):
            raise ValueError(f"generator spec must be a JSON object, got {type(raw).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        # Keys the workflow config keeps beside a generator (which interpreter runs it, how the demo
        # model is trained) are not sampling settings; they are accepted and ignored here.
        raw = {k: v for k, v in raw.items() if k not in WORKFLOW_KEYS}

        def fail(key: str, why: str) -> ParamsError:
            return ParamsError(key, why, f"generator spec: {key} {why}")

        for key in raw:
            if key not in known:
                err = unknown_key(key, known)
                raise ParamsError(key, err.reason, f"generator spec: {err.reason}")
        for key in ("name", "model", "prompt"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise fail(key, "is required (a non-empty string)")
        prompt = raw["prompt"]
        if prompt not in PROMPT_FAMILIES:
            raise fail("prompt", f"{prompt!r} is not one of {', '.join(PROMPT_FAMILIES)}")
        if "engine_args" in raw and raw["engine_args"] is None:  # null: no extra engine arguments
            raw = {k: v for k, v in raw.items() if k != "engine_args"}
        try:
            raw = check_types(cls, raw)
        except ParamsError as err:
            raise fail(err.key or "", err.reason) from None
        values: dict[str, Any] = {**FAMILY_DEFAULTS[prompt], **raw}
        if "few_shot_examples" in raw:
            values["few_shot_examples"] = _parse_examples(raw["few_shot_examples"])
        if values.get("engine_args") is None:
            values["engine_args"] = {}
        spec = cls(**values)
        spec.validate()
        return spec

    @classmethod
    def from_json(cls, text_or_path: str) -> GeneratorSpec:
        """Parse ``--generator``: inline JSON, or the path of a JSON file."""
        text = text_or_path.strip()
        if not text.startswith("{"):
            path = Path(text_or_path)
            if not path.is_file():
                raise ValueError(f"--generator is neither a JSON object nor an existing file: {text_or_path!r}")
            text = path.read_text(encoding="utf-8")
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"--generator: bad JSON ({err.msg}, column {err.colno})") from err
        return cls.from_dict(raw)

    def validate(self) -> None:
        def fail(key: str, why: str) -> None:
            raise ParamsError(key, why, f"generator spec {self.name!r}: {key} {why}")

        backends = backend_registry.names()  # the registered ones (qcpt/querygen/generators/)
        if self.backend not in backends:
            fail("backend", f"{self.backend!r} is not one of {', '.join(backends)}")
        if self.dtype not in DTYPES:
            fail("dtype", f"{self.dtype!r} is not one of {', '.join(DTYPES)}")
        for key in ("pool_size", "queries_per_generation", "max_new_tokens", "max_input_tokens",
                    "batch_size", "max_attempts", "tensor_parallel_size", "max_query_chars",
                    "max_query_words"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                fail(key, f"must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            fail("seed", f"must be an integer, got {self.seed!r}")
        if not isinstance(self.distinct_queries, bool):
            fail("distinct_queries", f"must be true or false, got {self.distinct_queries!r}")
        if not self.distinct_queries and self.queries_per_generation != 1:
            fail("distinct_queries", "false keeps each sampled sequence as one query: it needs "
                 f"queries_per_generation 1, got {self.queries_per_generation}")
        if not isinstance(self.top_k, int) or isinstance(self.top_k, bool) or self.top_k < 0:
            fail("top_k", f"must be an integer >= 0 (0 disables it), got {self.top_k!r}")
        if not isinstance(self.top_p, int | float) or not 0 < self.top_p <= 1:
            fail("top_p", f"must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.temperature, int | float) or self.temperature <= 0:
            fail("temperature", f"must be > 0, got {self.temperature!r}")
        if self.max_model_len is not None and (not isinstance(self.max_model_len, int) or self.max_model_len < 1):
            fail("max_model_len", f"must be a positive integer or null, got {self.max_model_len!r}")
        if not isinstance(self.engine_args, dict):
            fail("engine_args", "must be a JSON object")
        if not isinstance(self.include_title, bool):
            fail("include_title", "must be true or false")
        if self.prompt == "tk-instruct-fewshot" and not self.few_shot_examples:
            fail("few_shot_examples", "must hold at least one example for the tk-instruct prompt")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["few_shot_examples"] = [dataclasses.asdict(e) for e in self.few_shot_examples]
        if out["distinct_queries"]:
            # Recorded only when off (issue 28): a distinct pool's stats stay as they were before the
            # switch existed, so existing shards need no regeneration (querygen.driver keeps version 1).
            del out["distinct_queries"]
        return out


def _parse_examples(raw: Any) -> tuple[FewShotExample, ...]:
    if not isinstance(raw, list):
        raise ValueError("generator spec: few_shot_examples must be a list of {\"input\", \"output\"} objects")
    examples = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"input", "output"}:
            raise ValueError(f"generator spec: few_shot_examples[{i}] must be an object with exactly 'input' and 'output'")
        if not all(isinstance(item[k], str) and item[k].strip() for k in ("input", "output")):
            raise ValueError(f"generator spec: few_shot_examples[{i}] input/output must be non-empty strings")
        examples.append(FewShotExample(input=item["input"], output=item["output"]))
    return tuple(examples)
