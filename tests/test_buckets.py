"""Training batches grouped by length (``data.bucket_batches``): every segment once an epoch, lengths alike
within a batch, the seed's draw, and Lightning's DistributedSampler in its place under DDP."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lightning.fabric.utilities.data import _replace_dunder_methods
from lightning.pytorch.utilities.data import _update_dataloader
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler

from mosei_attn.data.buckets import LengthBucketBatchSampler, checked_pool

LENGTHS = np.random.default_rng(0).integers(40, 201, size=203)  # 203: the last batch of 16 is short


def _epoch(pool_batches: int, seed: int = 0, drop_last: bool = False) -> list[list[int]]:
    torch.manual_seed(seed)
    sampler = RandomSampler(range(len(LENGTHS)))
    return list(LengthBucketBatchSampler(sampler, 16, drop_last, LENGTHS, pool_batches))


def _spread(batches: list[list[int]]) -> float:
    """The mean over batches of (longest - shortest) length."""
    return float(np.mean([np.ptp(LENGTHS[b]) for b in batches]))


@pytest.mark.parametrize("pool_batches", [1, 4, 100])
def test_every_segment_once_an_epoch_in_as_many_batches_as_without_buckets(pool_batches: int) -> None:
    batches = _epoch(pool_batches)
    assert sorted(i for b in batches for i in b) == list(range(len(LENGTHS)))
    assert len(batches) == len(list(BatchSampler(range(len(LENGTHS)), 16, False))) == 13
    assert sorted(len(b) for b in batches)[1:] == [16] * 12  # one short batch, anywhere in the order
    sampler = LengthBucketBatchSampler(RandomSampler(range(len(LENGTHS))), 16, False, LENGTHS, pool_batches)
    assert len(sampler) == 13


def test_drop_last_drops_only_the_short_batch() -> None:
    batches = _epoch(4, drop_last=True)
    assert len(batches) == 12 and all(len(b) == 16 for b in batches)
    assert len({i for b in batches for i in b}) == 12 * 16


def test_a_pool_groups_alike_lengths_one_batch_pool_is_a_plain_shuffle() -> None:
    """Within a pool the batches are consecutive runs of the sorted lengths; a pool of one batch draws each
    batch as a plain shuffle would (the same segments as the shuffle's consecutive 16)."""
    torch.manual_seed(3)
    order = list(RandomSampler(range(len(LENGTHS))))
    plain = {frozenset(order[i : i + 16]) for i in range(0, len(order), 16)}
    assert {frozenset(b) for b in _epoch(1, seed=3)} == plain
    whole = _epoch(100, seed=3)  # one pool: the whole split sorted
    ranges = sorted((LENGTHS[b].min(), LENGTHS[b].max()) for b in whole)
    assert all(hi <= lo_next for (_, hi), (lo_next, _) in zip(ranges, ranges[1:], strict=False))
    assert _spread(_epoch(4)) < 0.5 * _spread(_epoch(1))


def test_the_seed_sets_the_batches_and_their_order() -> None:
    assert _epoch(4, seed=5) == _epoch(4, seed=5)
    assert _epoch(4, seed=5) != _epoch(4, seed=6)
    batches = _epoch(100, seed=5)  # one pool: the whole split sorted, its batches drawn in random order
    lengths_in_order = [LENGTHS[b].max() for b in batches]
    assert lengths_in_order != sorted(lengths_in_order)  # the pool's short-to-long order is shuffled


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "16"])
def test_a_bad_pool_size_names_the_setting(bad) -> None:
    with pytest.raises(ValueError, match=r"data\.bucket_batches must be a whole number of batches"):
        checked_pool(bad)


def test_under_ddp_lightning_puts_its_distributed_sampler_in_the_sampler_s_place() -> None:
    """Lightning re-creates a custom batch sampler with its DistributedSampler as ``sampler``: each rank
    then groups its own share of the split, and the ranks' shares cover it."""
    shares = []
    for rank in range(2):
        with _replace_dunder_methods(BatchSampler):
            loader = DataLoader(
                range(len(LENGTHS)),
                batch_sampler=LengthBucketBatchSampler(
                    RandomSampler(range(len(LENGTHS))), 16, False, LENGTHS, 4
                ),
            )
        dist = DistributedSampler(range(len(LENGTHS)), num_replicas=2, rank=rank, shuffle=True, seed=0)
        loader = _update_dataloader(loader, dist)
        assert isinstance(loader.batch_sampler, LengthBucketBatchSampler)
        assert loader.batch_sampler.sampler is dist and loader.batch_sampler.pool_batches == 4
        shares.append([int(i) for b in loader for i in b])
    assert len(shares[0]) == len(shares[1]) == 102  # 203 padded to 204 by the DistributedSampler
    assert set(shares[0]) | set(shares[1]) == set(range(len(LENGTHS)))
