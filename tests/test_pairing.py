"""An epoch runs over the forget set; retain partners are a seeded, cycled permutation."""

from __future__ import annotations

import pytest

from unlearn.data.pairing import ForgetRetainDataset, PairCollator


def seq(value):
    return {"input_ids": [value], "labels": [value], "attention_mask": [1]}


def test_pairing_is_deterministic_and_uses_every_retain_item_before_repeating():
    forget = {"forget": [seq(i) for i in range(7)]}
    retain = {"retain": [seq(100 + i) for i in range(3)]}
    first = ForgetRetainDataset(forget, retain, seed=1)
    again = ForgetRetainDataset(forget, retain, seed=1)
    assert len(first) == 7
    partners = [first[i]["retain"]["input_ids"][0] for i in range(7)]
    assert partners == [again[i]["retain"]["input_ids"][0] for i in range(7)]
    assert sorted(partners[:3]) == [100, 101, 102] and sorted(partners[3:6]) == [100, 101, 102]
    assert [first[i]["forget"]["input_ids"][0] for i in range(7)] == list(range(7))
    other = ForgetRetainDataset(forget, retain, seed=2)
    assert [first.retain_index(i) for i in range(7)] != [other.retain_index(i) for i in range(7)]


def test_later_epochs_continue_through_the_retain_set():
    forget = {"forget": [seq(i) for i in range(2)]}
    retain = {"retain": [seq(100 + i) for i in range(6)]}
    dataset = ForgetRetainDataset(forget, retain, seed=0)
    seen = []
    for epoch in range(3):
        dataset.set_epoch(epoch)
        seen += [dataset[i]["retain"]["input_ids"][0] for i in range(2)]
    assert sorted(seen) == list(range(100, 106))  # three epochs of two items cover all six, none twice
    dataset.set_epoch(0)
    assert [dataset[i]["retain"]["input_ids"][0] for i in range(2)] == seen[:2]  # deterministic


def test_streams_stay_aligned():
    forget = {"forget": [seq(i) for i in range(4)], "forget_idk": [seq(50 + i) for i in range(4)]}
    retain = {"retain": [seq(100 + i) for i in range(2)], "retain_idk": [seq(200 + i) for i in range(2)]}
    dataset = ForgetRetainDataset(forget, retain, seed=0)
    for i in range(4):
        item = dataset[i]
        assert item["forget_idk"]["input_ids"][0] - 50 == item["forget"]["input_ids"][0] == i
        assert item["retain_idk"]["input_ids"][0] - 200 == item["retain"]["input_ids"][0] - 100


def test_collator_pads_each_stream_separately():
    forget = {"forget": [{"input_ids": [1, 2, 3], "labels": [1, 2, 3], "attention_mask": [1, 1, 1]}, seq(4)]}
    retain = {"retain": [seq(9)]}
    dataset = ForgetRetainDataset(forget, retain)
    batch = PairCollator(pad_token_id=0)([dataset[0], dataset[1]])
    assert batch["forget"]["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch["forget"]["labels"].tolist() == [[1, 2, 3], [4, -100, -100]]
    assert batch["retain"]["input_ids"].tolist() == [[9], [9]]
    assert batch["index"].tolist() == [0, 1]


def test_without_retain_items_hold_only_forget_streams():
    assert set(ForgetRetainDataset({"forget": [seq(1)]})[0]) == {"forget", "index"}


def test_empty_and_misaligned_sets_are_rejected():
    with pytest.raises(ValueError, match="forget set is empty"):
        ForgetRetainDataset({"forget": []})
    with pytest.raises(ValueError, match="retain set is empty"):
        ForgetRetainDataset({"forget": [seq(1)]}, {"retain": []})
    with pytest.raises(ValueError, match="same length"):
        ForgetRetainDataset({"forget": [seq(1)], "forget_idk": []})
