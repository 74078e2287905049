"""A split of a feature cache as a torch Dataset that reads whole batches, and the loader's collate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

#: Batch keys of the extra per-segment fields start with this (the rest is the provider's name for it).
EXTRA_PREFIX = "extra."


def extra_fields(batch: Mapping[str, Any]) -> dict[str, Any]:
    """The extra per-segment fields of a batch (or one item) by their provider's names."""
    return {k[len(EXTRA_PREFIX) :]: v for k, v in batch.items() if k.startswith(EXTRA_PREFIX)}


class CacheDataset(Dataset):
    """Rows of a feature cache as model inputs; targets derived by the label rule beforehand.

    ``dataset[i]`` is one segment (float32); the DataLoader instead asks ``__getitems__`` for a whole
    batch, which reads its rows in one pass and leaves spec and words float16 (as cached) until the
    model casts them on its device. The sampler is the DataLoader's own (a fresh shuffle per epoch,
    Lightning's DistributedSampler under DDP), so shuffling and resuming are unchanged.

    ``extra``: per-segment fields beyond the model's inputs, one array per name with a row per dataset
    position (what the DataModule's extras provider gives, e.g. a synthetic corpus's truth); each goes into
    the batch, unchanged in dtype, as ``EXTRA_PREFIX + name`` (read back with :func:`extra_fields`).
    """

    def __init__(
        self, cache: Any, rows: np.ndarray, targets: np.ndarray, extra: dict[str, np.ndarray] | None = None
    ):
        self.cache = cache
        self.rows = rows
        self.targets = targets
        self.extra = extra or {}

    def extra_items(self, positions: Any) -> dict[str, torch.Tensor]:
        """The extra fields of dataset ``positions`` (an int or an index array), under their batch keys."""
        return {EXTRA_PREFIX + k: torch.as_tensor(v[positions]) for k, v in self.extra.items()}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            k: v[0].float() if v.dtype == torch.float16 else v[0] for k, v in self.__getitems__([i]).items()
        }

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """The batch of dataset positions ``indices``: spec (B, 1, F, T) and words (B, L, D) float16, speech
        (B, T) bool."""
        indices = np.asarray(indices, dtype=np.int64)
        rows = self.rows[indices]
        b = self.cache.batch(rows)
        return {
            "spec": torch.from_numpy(b["spec"])[:, None],
            "spec_len": torch.from_numpy(b["spec_len"].astype(np.int64)),
            "words": torch.from_numpy(b["words"]),
            "word_len": torch.from_numpy(b["word_len"].astype(np.int64)),
            "speech": torch.from_numpy(b["speech"]),
            "target": torch.from_numpy(self.targets[indices]),
            "index": torch.from_numpy(rows),
        } | self.extra_items(indices)


def collate_batch(batch: Mapping[str, torch.Tensor] | list) -> dict[str, torch.Tensor]:
    """The DataLoader's collate: a batch from ``CacheDataset.__getitems__`` goes as it is, spec and words
    still float16 (half the bytes to copy between processes and to the device; the model casts them to
    its own dtype, on the device: :meth:`mosei_attn.models.base.EmotionModule.forward`); a list of
    single items (another dataset) goes to torch's default collate."""
    if not isinstance(batch, Mapping):
        return default_collate(batch)
    return dict(batch)
