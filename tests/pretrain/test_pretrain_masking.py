"""MLM masking and the collator: rates, special tokens, whole words, per-schema context handling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qcpt.pretrain.collator import PretrainCollator
from qcpt.pretrain.masking import IGNORE_INDEX, choose_mask_positions, corrupt, word_groups
from qcpt.pretrain.tiny import PIECE_WORDS, WORDS, tiny_tokenizer

TOKENIZER = tiny_tokenizer()


def random_texts(n: int, seed: int = 0, words: tuple[int, int] = (10, 40)) -> list[str]:
    rng = np.random.default_rng(seed)
    vocabulary = WORDS + list(PIECE_WORDS)
    return [" ".join(rng.choice(vocabulary, size=int(rng.integers(*words)))) for _ in range(n)]


def collate(schema: str, n: int = 300, seed: int = 0, **kwargs) -> dict[str, torch.Tensor]:
    passages, contexts = random_texts(n, seed), random_texts(n, seed + 1)
    examples = [{"passage": p, "context": c, "context_kind": "span", "seed": i}
                for i, (p, c) in enumerate(zip(passages, contexts, strict=True))]
    return PretrainCollator(TOKENIZER, schema=schema, **kwargs)(examples)


def masked_rate(labels: torch.Tensor, attention: torch.Tensor) -> float:
    maskable = attention.sum() - 2 * attention.shape[0]  # every row has one [CLS] and one [SEP]
    return float((labels != IGNORE_INDEX).sum() / maskable)


def test_word_groups_keep_wordpiece_pieces_together():
    enc = TOKENIZER(["unbelievable pretraining of retrievers"])
    groups = word_groups(enc.word_ids(0), whole_word=True)
    tokens = TOKENIZER.convert_ids_to_tokens(enc["input_ids"][0])
    assert [[tokens[i] for i in g] for g in groups] == [
        ["un", "##believ", "##able"], ["pre", "##train", "##ing"], ["of"], ["retriev", "##ers"]]
    assert word_groups(enc.word_ids(0), whole_word=False) == [[i] for i in range(1, len(tokens) - 1)]


@pytest.mark.parametrize("rate", [0.15, 0.30, 0.45])
def test_mask_rate_and_specials(rate):
    out = collate("contrastive", mlm_probability=rate)
    assert masked_rate(out["passage_labels"], out["passage_attention_mask"]) == pytest.approx(rate, abs=0.015)
    labels, ids = out["passage_labels"], out["passage_input_ids"]
    lengths = out["passage_attention_mask"].sum(1)
    for row in range(ids.shape[0]):
        assert labels[row, 0] == IGNORE_INDEX and labels[row, lengths[row] - 1] == IGNORE_INDEX
        assert ids[row, 0] == TOKENIZER.cls_token_id and ids[row, lengths[row] - 1] == TOKENIZER.sep_token_id
        assert (labels[row, lengths[row]:] == IGNORE_INDEX).all()  # padding
        assert (ids[row, lengths[row]:] == TOKENIZER.pad_token_id).all()


def test_eighty_ten_ten_replacement():
    out = collate("contrastive", n=600, mlm_probability=0.3)
    chosen = out["passage_labels"] != IGNORE_INDEX
    ids, labels = out["passage_input_ids"][chosen], out["passage_labels"][chosen]
    masked = (ids == TOKENIZER.mask_token_id).float().mean().item()
    kept = (ids == labels).float().mean().item()
    assert masked == pytest.approx(0.8, abs=0.02)
    assert kept == pytest.approx(0.1, abs=0.015)
    special = set(TOKENIZER.all_special_ids)
    assert not any(int(t) in special for t in ids[(ids != labels) & (ids != TOKENIZER.mask_token_id)])


def test_whole_word_masking_masks_all_pieces_of_a_word():
    text = " ".join(["unbelievable pretraining retrievers tokenization the model"] * 6)
    split_words = 0
    for whole_word in (True, False):
        for seed in range(200):
            enc = TOKENIZER([text])
            word_ids = enc.word_ids(0)
            chosen = set(choose_mask_positions(word_ids, 0.3, np.random.default_rng(seed), whole_word=whole_word))
            for group in word_groups(word_ids, whole_word=True):
                hit = [i in chosen for i in group]
                if whole_word:
                    assert all(hit) or not any(hit), f"seed {seed}: word {group} partly masked"
                elif any(hit) and not all(hit):
                    split_words += 1
    assert split_words > 0  # token-level masking does split words, so the check above can fail


def test_corrupt_labels_only_chosen_positions():
    rng = np.random.default_rng(0)
    ids, labels = corrupt([2, 10, 11, 12, 3], [1, 3], rng, mask_token_id=4, replacement_ids=np.array([20]))
    assert labels == [IGNORE_INDEX, 10, IGNORE_INDEX, 12, IGNORE_INDEX]
    assert ids[0] == 2 and ids[2] == 11 and ids[4] == 3


def test_cotmae_masks_context_at_45_and_passage_at_30():
    out = collate("cotmae", mlm_probability=0.30, context_mlm_probability=0.45)
    assert masked_rate(out["passage_labels"], out["passage_attention_mask"]) == pytest.approx(0.30, abs=0.015)
    assert masked_rate(out["context_labels"], out["context_attention_mask"]) == pytest.approx(0.45, abs=0.015)


def test_contrastive_masks_both_sides_and_bottleneck_leaves_context_intact():
    out = collate("contrastive", n=100, mlm_probability=0.15)
    assert masked_rate(out["context_labels"], out["context_attention_mask"]) == pytest.approx(0.15, abs=0.02)
    out = collate("bottleneck", n=100, mlm_probability=0.30)
    assert not (out["context_input_ids"] == TOKENIZER.mask_token_id).any()


def test_masks_depend_only_on_the_example_seed():
    texts = random_texts(4)
    examples = [{"passage": t, "context": t, "context_kind": "span", "seed": 100 + i} for i, t in enumerate(texts)]
    collator = PretrainCollator(TOKENIZER, schema="contrastive")
    first = collator(examples)
    again = collator(list(reversed(examples)))
    assert torch.equal(first["passage_labels"][0, :20], again["passage_labels"][3, :20])
    reseeded = collator([dict(e, seed=e["seed"] + 7) for e in examples])
    assert not torch.equal(first["passage_labels"], reseeded["passage_labels"])


def test_query_contexts_are_cut_to_query_max_len():
    long = " ".join(["model"] * 60)
    examples = [{"passage": long, "context": long, "context_kind": "query", "seed": 0},
                {"passage": long, "context": long, "context_kind": "span", "seed": 1}]
    out = PretrainCollator(TOKENIZER, schema="bottleneck", max_len=40, query_max_len=10)(examples)
    assert out["passage_input_ids"].shape[1] == 40
    assert out["context_attention_mask"].sum(1).tolist() == [10, 40]
    assert out["context_input_ids"][0, 9] == TOKENIZER.sep_token_id
