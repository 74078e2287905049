"""Training batches of segments of similar length, so a model that reads only the batch's longest segment's
frames computes little padding (``data.bucket_batches``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import BatchSampler, Sampler


def checked_pool(pool_batches: int | None) -> int | None:
    """``data.bucket_batches`` as given, or a ValueError that says what it takes."""
    ok = pool_batches is None or (
        isinstance(pool_batches, int) and not isinstance(pool_batches, bool) and pool_batches >= 1
    )
    if not ok:
        raise ValueError(
            "data.bucket_batches must be a whole number of batches, 1 or more (null: a plain shuffle), "
            f"got {pool_batches!r}"
        )
    return pool_batches


class LengthBucketBatchSampler(BatchSampler):
    """Batches of ``batch_size`` dataset positions drawn by ``sampler``, grouped by length.

    The positions ``sampler`` yields (a fresh shuffle per epoch; Lightning's DistributedSampler under DDP,
    which it passes in the place of ``sampler``) are taken ``pool_batches * batch_size`` at a time; each pool
    is sorted by ``lengths`` (stable: equal lengths keep the shuffle's order) and cut into batches, and the
    epoch's batches are then shuffled, so the model does not see the pools' short-to-long order. Each batch is
    the same random draw of segments as a plain shuffle's would be up to the pool, which sets how alike their
    lengths are: 1 is a plain shuffle, the whole split one sort (every epoch the same batches).

    The batch order is shuffled with a seed drawn from torch's global generator when the epoch's iteration
    starts, as :class:`torch.utils.data.RandomSampler` draws its own: a seeded run draws the same batches.
    There are ``ceil(len(sampler) / batch_size)`` batches (``floor`` with ``drop_last``), as without
    buckets; at most one, the last pool's last, is short.
    """

    def __init__(
        self,
        sampler: Sampler[int] | Sequence[int],
        batch_size: int,
        drop_last: bool,
        lengths: np.ndarray | Sequence[int] = (),
        pool_batches: int = 1,
    ) -> None:
        super().__init__(sampler, batch_size, drop_last)
        self.lengths = np.asarray(lengths)
        self.pool_batches = checked_pool(pool_batches)

    def __iter__(self) -> Iterator[list[int]]:
        positions = np.fromiter(iter(self.sampler), dtype=np.int64)
        seed = int(torch.empty((), dtype=torch.int64).random_().item())
        pool = self.pool_batches * self.batch_size
        batches = []
        for start in range(0, len(positions), pool):
            chunk = positions[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        order = torch.randperm(len(batches), generator=torch.Generator().manual_seed(seed))
        for i in order.tolist():
            yield batches[i].tolist()
