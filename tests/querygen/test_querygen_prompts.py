"""Prompt rendering per preset (exact text) and generator-spec defaults/validation."""

import json

import pytest

from qcpt.querygen.prompts import (
    adds_special_tokens,
    chat_messages,
    passage_text,
    render_chat,
    render_prompt,
)
from qcpt.querygen.spec import FewShotExample, GeneratorSpec

PASSAGE = "The Eiffel Tower is in Paris."


def test_doct5query_prompt_is_prefix_plus_passage():
    assert render_prompt("doct5query", PASSAGE) == "text2query: The Eiffel Tower is in Paris."


def test_alpaca_prompt_exact():
    expected = (
        "Below is an instruction that describes a task, paired with an input that provides further "
        "context. Write a response that appropriately completes the request.\n"
        "\n"
        "### Instruction:\n"
        "Generate ten search queries for the following passage\n"
        "\n"
        "### Input:\n"
        "The Eiffel Tower is in Paris.\n"
        "\n"
        "### Response:"
    )
    assert render_prompt("alpaca-zeroshot", PASSAGE) == expected


def test_tk_instruct_prompt_exact():
    examples = [FewShotExample("passage one", "query one"), FewShotExample("passage two", "query two")]
    expected = (
        "Definition: Generate one search query in question or phrase format. The generated query "
        "should be unambiguous and related to the input.\n"
        "\n"
        "Positive Example 1 -\n"
        "Input: passage one\n"
        "Output: query one\n"
        "\n"
        "Positive Example 2 -\n"
        "Input: passage two\n"
        "Output: query two\n"
        "\n"
        "Now complete the following example -\n"
        "Input: The Eiffel Tower is in Paris.\n"
        "Output:"
    )
    assert render_prompt("tk-instruct-fewshot", PASSAGE, examples=examples) == expected


def test_tk_instruct_default_examples_are_two_and_used():
    spec = GeneratorSpec.from_dict({"name": "tk", "model": "m", "prompt": "tk-instruct-fewshot"})
    assert len(spec.few_shot_examples) == 2
    text = render_prompt("tk-instruct-fewshot", PASSAGE, examples=spec.few_shot_examples)
    assert text.count("Positive Example") == 2
    assert f"Output: {spec.few_shot_examples[1].output}\n\nNow complete" in text


class _FakeChatTokenizer:
    chat_template = "fake"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"


def test_chat_prompt_uses_the_tokenizer_template():
    assert chat_messages(PASSAGE) == [{
        "role": "user",
        "content": "Generate ten search queries for the following passage:\n\nThe Eiffel Tower is in Paris.",
    }]
    out = render_chat(PASSAGE, _FakeChatTokenizer())
    assert out == (
        "<user>Generate ten search queries for the following passage:\n\nThe Eiffel Tower is in Paris."
        "</user><assistant>"
    )
    assert not adds_special_tokens("chat-zeroshot") and adds_special_tokens("alpaca-zeroshot")


def test_chat_prompt_without_template_is_a_clear_error():
    class NoTemplate:
        chat_template = None

    with pytest.raises(ValueError, match="chat template"):
        render_chat(PASSAGE, NoTemplate())


def test_passage_text_title():
    assert passage_text("Paris", "text", include_title=True) == "Paris. text"
    assert passage_text("Paris", "text", include_title=False) == "text"
    assert passage_text("", "text", include_title=True) == "text"


def test_spec_family_defaults_follow_the_papers():
    d = GeneratorSpec.from_dict({"name": "d", "model": "m", "prompt": "doct5query"})
    assert (d.backend, d.top_k, d.top_p, d.max_new_tokens, d.pool_size, d.queries_per_generation) == (
        "hf-seq2seq", 25, 0.95, 64, 20, 1)
    a = GeneratorSpec.from_dict({"name": "a", "model": "m", "prompt": "alpaca-zeroshot"})
    assert (a.backend, a.top_k, a.top_p, a.temperature, a.queries_per_generation) == ("hf-causal", 50, 0.95, 0.7, 10)
    o = GeneratorSpec.from_dict({"name": "a", "model": "m", "prompt": "alpaca-zeroshot", "backend": "vllm", "top_k": 10})
    assert (o.backend, o.top_k, o.temperature) == ("vllm", 10, 0.7)


def test_spec_rejects_unknown_and_bad_values():
    with pytest.raises(ValueError, match="'topk'"):
        GeneratorSpec.from_dict({"name": "d", "model": "m", "prompt": "doct5query", "topk": 3})
    with pytest.raises(ValueError, match="prompt"):
        GeneratorSpec.from_dict({"name": "d", "model": "m", "prompt": "nope"})
    with pytest.raises(ValueError, match="top_p"):
        GeneratorSpec.from_dict({"name": "d", "model": "m", "prompt": "doct5query", "top_p": 1.5})
    with pytest.raises(ValueError, match="pool_size"):
        GeneratorSpec.from_dict({"name": "d", "model": "m", "prompt": "doct5query", "pool_size": 0})
    with pytest.raises(ValueError, match="few_shot_examples"):
        GeneratorSpec.from_dict({"name": "d", "model": "m", "prompt": "tk-instruct-fewshot",
                                 "few_shot_examples": [{"input": "x"}]})


def test_spec_from_json_inline_and_file(tmp_path):
    raw = {"name": "g", "model": "m", "prompt": "chat-zeroshot", "python": "/venv/bin/python", "pool_size": 3}
    spec = GeneratorSpec.from_json(json.dumps(raw))
    assert spec.pool_size == 3 and spec.backend == "hf-causal"
    path = tmp_path / "g.json"
    path.write_text(json.dumps(raw))
    assert GeneratorSpec.from_json(str(path)) == spec
    assert spec.to_dict()["few_shot_examples"][0]["input"]


def test_alpaca_figure1_is_the_papers_prompt_without_the_preamble():
    """Issue 28, #8: LLM Figure 1 prints `### Instruction: … ### Input: <passage> ### Response:` only;
    alpaca-zeroshot adds Stanford Alpaca's preamble. Same instruction, input and generation settings."""
    from qcpt.querygen.prompts import ALPACA_PREAMBLE, render_prompt
    from qcpt.querygen.spec import FAMILY_DEFAULTS

    figure = render_prompt("alpaca-figure1", "Tides follow the moon.")
    standard = render_prompt("alpaca-zeroshot", "Tides follow the moon.")
    assert figure.startswith("### Instruction:\nGenerate ten search queries for the following passage\n\n")
    assert figure.endswith("### Input:\nTides follow the moon.\n\n### Response:")
    assert ALPACA_PREAMBLE not in figure and standard == f"{ALPACA_PREAMBLE}\n\n{figure}"
    assert FAMILY_DEFAULTS["alpaca-figure1"] == FAMILY_DEFAULTS["alpaca-zeroshot"]
