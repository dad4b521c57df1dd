"""Pre-training hyper-parameters: ``--params JSON`` → :class:`PretrainParams`.

Defaults are the papers' settings. Settings that differ between schemas (learning rate, batch size,
steps, MLM rate, what a ``span`` context is, decoder depth) default to ``None`` and are filled from
the chosen schema's declaration (:mod:`qcpt.pretrain.schemas`), so a config only states what it changes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..core.params import ParamsError, check_types
from ..core.params import parse_params as parse_dataclass
from ..training.batching import BatchPlan, plan_from_settings
from ..training.params import TrainerParams
from .contexts import registry as context_registry
from .schemas import registry as schema_registry

SCHEMAS = schema_registry.names()  # the registered schemas (qcpt/pretrain/schemas/), built-in first
CONTEXTS = context_registry.drawn_names()  # the registered kinds a run draws (qcpt/pretrain/contexts/)
SPAN_SOURCES = ("other", "self", "crop")
DECODER_HEADS = ("mlm", "tied")  # bottleneck decoder output (qcpt.pretrain.objectives.bottleneck)

# Per-schema paper values (each schema's module declares its own). Batch sizes are the papers'
# *global* batches; the driver splits them over the processes it runs with (qcpt.training.batching).
# ``max_per_device_batch_size`` is the memory bound of one forward.
SCHEMA_DEFAULTS: dict[str, dict[str, Any]] = {name: dict(s.defaults) for name, s in schema_registry.schemas().items()}



@dataclass
class PretrainParams(TrainerParams):
    """All knobs of one pre-training run (see docs in the field comments); the trainer's own
    (learning rate, schedule, batch bounds, checkpointing, hardware) are :class:`TrainerParams`'."""

    # TrainerParams' learning_rate and max_steps: per schema (1e-4 / 4e-4 / 3e-4; 120k / 50k / 80k),
    # global_batch_size per schema (2048 / 16384 / 2048), max_per_device_batch_size cotmae 64.
    weight_decay: float = 0.01
    schema: str = "contrastive"            # a registered schema: contrastive | cotmae | bottleneck | ...
    context: str = "span"                  # a registered context kind: span | query | mixed | ...
    batch_size: int | None = None          # per device (CPU configs); else derived from global_batch_size
    max_len: int = 144                     # passage (and span context) length in tokens, with [CLS]/[SEP]
    query_max_len: int = 32                # generated-query context length
    use_title: bool = False                # prepend the passage title to its text
    mlm_probability: float | None = None   # encoder MLM rate: 0.15 contrastive, 0.30 cotmae/bottleneck
    context_mlm_probability: float = 0.45  # CoT-MAE decoder-side mask rate of the context
    whole_word_mask: bool = True           # mask all WordPiece pieces of a word together
    span_source: str | None = None         # "other" passage of the document, the passage "self", or a
    #                                        random "crop" of it (LLM paper's contrastive span)
    span_crop_min: float = 0.1             # crop: shortest span, as a share of the passage's words
    span_crop_max: float = 0.5             # crop: longest span (Contriever's random-cropping range)
    mixed_query_probability: float = 0.5   # mixed context: P(query) per example, else span
    temperature: float = 1.0               # contrastive softmax temperature
    contrastive_negatives: str = "contexts"  # "contexts": passage vs all contexts (LLM-expansion eq. 8);
    #                                          "all": every other passage and context (coCondenser code)
    grad_cache_chunk: int | None = None    # contrastive only: encode this many sequences at a time
    mlm_loss_weight: float = 1.0           # contrastive: weight of both MLM terms (QAC eq. 7: 1; the authors'
    #                                        grad-cache path scales each chunk's MLM loss so they weigh 2)
    condenser_layers: int = 2              # contrastive: Condenser head depth
    condenser_skip_layer: int | None = None  # contrastive: encoder layer read by the head; None = L // 2
    decoder_layers: int | None = None      # cotmae / bottleneck decoder depth (1 / 1)
    window: int | None = None              # bottleneck: None = plain causal decoder (LLM-expansion paper);
    #                                        W = the authors' attn_window: [CLS] + itself + W - 1 previous
    decoder_head: str = "mlm"              # bottleneck output: "mlm" = input dropout, final LayerNorm, the
    #                                        encoder's shared MLM head (authors' casual_loss, lm.cls);
    #                                        "tied" = no dropout, tied projection + its own bias
    init_heads: str | None = None          # heads file (or folder holding one) of a previous stage
    head_warmup_steps: int = 0             # the first N of max_steps train the heads only (encoder
    #                                        frozen): an init without pre-trained heads (a
    #                                        sentence-transformers export has no MLM head) starts at
    #                                        MLM loss ln(vocab), whose gradients swamp the encoder

    def __post_init__(self) -> None:
        if self.schema not in SCHEMAS:
            raise ParamsError("schema", f"{self.schema!r} is not one of {', '.join(SCHEMAS)}")
        if self.batch_size is not None and self.global_batch_size is not None:
            raise ParamsError("global_batch_size", "batch_size (per device) and global_batch_size: give one of them")
        if self.global_batch_size is not None and self.gradient_accumulation_steps != 1:
            raise ParamsError("gradient_accumulation_steps", "derived from global_batch_size; do not set both")
        # A per-device batch given (CPU configs) keeps the per-device mode: no global default then.
        batch_keys = ("global_batch_size", "max_per_device_batch_size")
        for key, value in SCHEMA_DEFAULTS[self.schema].items():
            if key in batch_keys and self.batch_size is not None:
                continue
            if getattr(self, key) is None:
                setattr(self, key, value)
        self._check_types()
        self._check_values()

    # ------------------------------------------------------------------ validation

    def _check_types(self) -> None:
        # The same check parse_params runs on the JSON, here for direct construction (and after the
        # schema defaults are filled in); integers given for float fields become floats.
        values = check_types(type(self), dataclasses.asdict(self))
        for name, value in values.items():
            setattr(self, name, value)

    def _check_values(self) -> None:
        def positive(name: str) -> None:
            if getattr(self, name) <= 0:
                raise ParamsError(name, f"must be > 0, got {getattr(self, name)!r}")

        def rate(name: str, *, allow_zero: bool = False) -> None:
            value = getattr(self, name)
            if not ((0.0 <= value if allow_zero else 0.0 < value) and value <= 1.0):
                raise ParamsError(name, f"must be in {'[0' if allow_zero else '(0'}, 1], got {value!r}")

        if self.context not in CONTEXTS:
            raise ParamsError("context", f"{self.context!r} is not one of {', '.join(CONTEXTS)}")
        if self.span_source not in SPAN_SOURCES:
            raise ParamsError("span_source", f"{self.span_source!r} is not one of {', '.join(SPAN_SOURCES)}")
        rate("span_crop_min")
        rate("span_crop_max")
        if self.span_crop_min > self.span_crop_max:
            raise ParamsError("span_crop_min", f"must be <= span_crop_max ({self.span_crop_max!r}), got {self.span_crop_min!r}")
        if self.decoder_head not in DECODER_HEADS:
            raise ParamsError("decoder_head", f"{self.decoder_head!r} is not one of {', '.join(DECODER_HEADS)}")
        if self.contrastive_negatives not in ("contexts", "all"):
            raise ParamsError("contrastive_negatives", f"{self.contrastive_negatives!r} is not 'contexts' or 'all'")
        self.check_trainer_fields()
        for name in ("max_len", "query_max_len", "temperature", "condenser_layers", "mlm_loss_weight"):
            positive(name)
        for name in ("batch_size", "window"):
            if getattr(self, name) is not None:
                positive(name)
        if self.decoder_layers < 0:
            raise ParamsError("decoder_layers", f"must be ≥ 0, got {self.decoder_layers!r}")
        rate("mlm_probability")
        rate("context_mlm_probability")
        rate("mixed_query_probability", allow_zero=True)
        for name in ("max_len", "query_max_len"):
            if getattr(self, name) < 3:
                raise ParamsError(name, f"must be >= 3 ([CLS], a token, [SEP]), got {getattr(self, name)!r}")
        if schema_registry.get(self.schema).decoder and self.decoder_layers < 1:
            raise ParamsError("decoder_layers", f"the {self.schema} schema needs >= 1 decoder layer")
        if self.grad_cache_chunk is not None:
            if not schema_registry.get(self.schema).gradient_caching:
                raise ParamsError("grad_cache_chunk", f"gradient caching does not apply to the {self.schema} schema")
            positive("grad_cache_chunk")
        if self.condenser_skip_layer is not None:
            positive("condenser_skip_layer")
        if not 0 <= self.head_warmup_steps < self.max_steps:
            raise ParamsError("head_warmup_steps", f"must be in [0, max_steps = {self.max_steps}), "
                              f"got {self.head_warmup_steps!r}")

    def batch_plan(self, world: int) -> BatchPlan:
        """Per-device batch and accumulation on ``world`` processes (errors name the config key)."""
        return plan_from_settings(
            world, key=f"pretrain.schemas.{self.schema}.global_batch_size", global_batch_size=self.global_batch_size,
            per_device_batch_size=self.batch_size, gradient_accumulation_steps=self.gradient_accumulation_steps,
            max_per_device=self.max_per_device_batch_size, accumulation_allowed=schema_registry.get(self.schema).accumulable,
            gradient_caching=self.grad_cache_chunk is not None)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_params(text: str | dict[str, Any] | None) -> PretrainParams:
    """Parse ``--params`` (a JSON object, or an already-decoded dict); unknown keys are errors."""
    return parse_dataclass(PretrainParams, text)
