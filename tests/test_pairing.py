"""An epoch runs over the forget set; retain partners are a seeded, cycled permutation."""

from __future__ import annotations

import pytest

from unlearn.data.pairing import ForgetRetainDataset, PairCollator


def test_pairing_is_deterministic_and_uses_every_retain_item_before_repeating():
    forget = [{"input_ids": [i], "labels": [i], "attention_mask": [1]} for i in range(7)]
    retain = [{"input_ids": [100 + i], "labels": [100 + i], "attention_mask": [1]} for i in range(3)]
    first = ForgetRetainDataset(forget, retain, seed=1)
    again = ForgetRetainDataset(forget, retain, seed=1)
    other = ForgetRetainDataset(forget, retain, seed=2)
    assert len(first) == 7
    partners = [first[i]["retain"]["input_ids"][0] for i in range(7)]
    assert partners == [again[i]["retain"]["input_ids"][0] for i in range(7)]
    assert sorted(partners[:3]) == [100, 101, 102] and sorted(partners[3:6]) == [100, 101, 102]
    assert [first[i]["forget"]["input_ids"][0] for i in range(7)] == list(range(7))
    assert first.pairing != other.pairing


def test_collator_pads_each_half_separately():
    forget = [{"input_ids": [1, 2, 3], "labels": [1, 2, 3], "attention_mask": [1, 1, 1]},
              {"input_ids": [4], "labels": [4], "attention_mask": [1]}]
    retain = [{"input_ids": [9], "labels": [9], "attention_mask": [1]}]
    batch = PairCollator(pad_token_id=0)([ForgetRetainDataset(forget, retain)[i] for i in range(2)])
    assert batch["forget"]["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch["retain"]["input_ids"].tolist() == [[9], [9]]
    assert batch["index"].tolist() == [0, 1]


def test_without_retain_items_hold_only_the_forget_half():
    dataset = ForgetRetainDataset([{"input_ids": [1]}])
    assert set(dataset[0]) == {"forget", "index"}


def test_empty_sets_are_rejected():
    with pytest.raises(ValueError, match="forget set is empty"):
        ForgetRetainDataset([])
    with pytest.raises(ValueError, match="retain set is empty"):
        ForgetRetainDataset([{"input_ids": [1]}], [])
