"""Prompt templates for query generation (paper 1 section 3; paper 2 Figure 1).

- ``doct5query``: the docT5query input, ``text2query: <passage>``; each sampled sequence is one query.
- ``alpaca-zeroshot``: the standard Alpaca instruction-with-input template, instruction
  "Generate ten search queries for the following passage", the passage as input.
- ``alpaca-figure1``: the same instruction and input as LLM Figure 1 prints them —
  ``### Instruction`` / ``### Input`` / ``### Response:`` without Stanford Alpaca's preamble
  (docs/fidelity.md, #8).
- ``tk-instruct-fewshot``: the Super-NaturalInstructions layout tk-instruct was trained on:
  definition, positive examples, then the passage to complete.
- ``chat-zeroshot``: the Alpaca instruction and the passage as one user turn, rendered with the
  model tokenizer's own chat template (for chat models such as SmolLM2-Instruct).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .spec import FewShotExample

DOCT5QUERY_PREFIX = "text2query: "

ALPACA_PREAMBLE = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request."
)
ALPACA_INSTRUCTION = "Generate ten search queries for the following passage"

TK_DEFINITION = (
    "Generate one search query in question or phrase format. The generated query should be "
    "unambiguous and related to the input."
)

# Lines of a generation starting with these (case-insensitively) are the prompt's own scaffolding
# echoed back, never queries.
PROMPT_MARKERS = (
    "### ",
    "instruction:",
    "input:",
    "definition:",
    "positive example",
    "negative example",
    "now complete the following",
    "below is an instruction",
    "<|",
)


def render_doct5query(passage: str) -> str:
    return DOCT5QUERY_PREFIX + passage


def render_alpaca(passage: str, instruction: str = ALPACA_INSTRUCTION, preamble: bool = True) -> str:
    return (
        (f"{ALPACA_PREAMBLE}\n\n" if preamble else "")
        + f"### Instruction:\n{instruction}\n\n"
        f"### Input:\n{passage}\n\n"
        f"### Response:"
    )


def render_tk_instruct(passage: str, examples: Sequence[FewShotExample]) -> str:
    parts = [f"Definition: {TK_DEFINITION}\n\n"]
    for number, example in enumerate(examples, start=1):
        parts.append(f"Positive Example {number} -\nInput: {example.input}\nOutput: {example.output}\n\n")
    parts.append(f"Now complete the following example -\nInput: {passage}\nOutput:")
    return "".join(parts)


def chat_messages(passage: str, instruction: str = ALPACA_INSTRUCTION) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{instruction}:\n\n{passage}"}]


def render_chat(passage: str, tokenizer: Any, instruction: str = ALPACA_INSTRUCTION) -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            "prompt 'chat-zeroshot' needs a tokenizer with a chat template; this model's tokenizer has "
            "none (use 'alpaca-zeroshot' for base/instruction models without one)"
        )
    return tokenizer.apply_chat_template(
        chat_messages(passage, instruction), tokenize=False, add_generation_prompt=True
    )


def render_prompt(
    family: str,
    passage: str,
    *,
    tokenizer: Any = None,
    examples: Sequence[FewShotExample] = (),
) -> str:
    """The full model input for one passage under a prompt family."""
    if family == "doct5query":
        return render_doct5query(passage)
    if family == "alpaca-zeroshot":
        return render_alpaca(passage)
    if family == "alpaca-figure1":
        return render_alpaca(passage, preamble=False)
    if family == "tk-instruct-fewshot":
        return render_tk_instruct(passage, examples)
    if family == "chat-zeroshot":
        return render_chat(passage, tokenizer)
    raise ValueError(f"unknown prompt family {family!r}")


def adds_special_tokens(family: str) -> bool:
    """Whether the tokenizer should add its own special tokens (BOS/EOS) around the prompt.

    A chat template already writes every special token it needs; adding BOS again would double it.
    """
    return family != "chat-zeroshot"


def echo_texts(family: str, examples: Sequence[FewShotExample] = ()) -> list[str]:
    """Fixed prompt texts a generation may parrot back; such lines are dropped by the parser."""
    texts = [ALPACA_INSTRUCTION, ALPACA_PREAMBLE, TK_DEFINITION, DOCT5QUERY_PREFIX.strip()]
    if family == "tk-instruct-fewshot":
        texts += [e.output for e in examples] + [e.input for e in examples]
    return texts


def passage_text(title: str, text: str, include_title: bool) -> str:
    """The passage as shown to the generator (title first when asked for and present)."""
    if include_title and title.strip():
        return f"{title.strip()}. {text}"
    return text


def truncate_to_tokens(text: str, tokenizer: Any, max_tokens: int) -> str:
    """Cut ``text`` to at most ``max_tokens`` tokenizer tokens (the passage, not the template, is cut,
    so the prompt's closing cue such as ``### Response:`` always survives)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text
    return tokenizer.decode(ids[:max_tokens], skip_special_tokens=True).strip()
