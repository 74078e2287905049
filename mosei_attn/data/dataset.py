"""A split of a feature cache as a torch Dataset that reads whole batches, and the loader's collate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate


class CacheDataset(Dataset):
    """Rows of a feature cache as model inputs; targets derived by the label rule beforehand.

    ``dataset[i]`` is one segment (float32); the DataLoader instead asks ``__getitems__`` for a whole
    batch, which reads its rows in one pass and leaves spec and words float16 (as cached) until the
    model casts them on its device. The sampler is the DataLoader's own (a fresh shuffle per epoch, Lightning's
    DistributedSampler under DDP), so shuffling and resuming are unchanged.

    ``cues``: the corpus's cue truth per dataset position, ``mode`` (N,) and ``stress`` (N, T) (see
    :mod:`mosei_attn.data.cue_truth`), added to each item when the corpus has it.
    """

    def __init__(
        self, cache: Any, rows: np.ndarray, targets: np.ndarray, cues: dict[str, np.ndarray] | None = None
    ):
        self.cache, self.rows, self.targets, self.cues = cache, rows, targets, cues or {}

    def cue_fields(self, positions: Any) -> dict[str, torch.Tensor]:
        """``mode`` (as int64) and ``stress`` of dataset ``positions`` (an int or an index array)."""
        return {
            k: torch.as_tensor(v[positions]).to(torch.int64 if k == "mode" else torch.bool)
            for k, v in self.cues.items()
        }

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            k: v[0].float() if v.dtype == torch.float16 else v[0] for k, v in self.__getitems__([i]).items()
        }

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """The batch of dataset positions ``indices``: spec (B, 1, F, T) and words (B, L, D) float16."""
        indices = np.asarray(indices, dtype=np.int64)
        rows = self.rows[indices]
        b = self.cache.batch(rows)
        return {
            "spec": torch.from_numpy(b["spec"])[:, None],
            "spec_len": torch.from_numpy(b["spec_len"].astype(np.int64)),
            "words": torch.from_numpy(b["words"]),
            "word_len": torch.from_numpy(b["word_len"].astype(np.int64)),
            "target": torch.from_numpy(self.targets[indices]),
            "index": torch.from_numpy(rows),
        } | self.cue_fields(indices)


def collate_batch(batch: Mapping[str, torch.Tensor] | list) -> dict[str, torch.Tensor]:
    """The DataLoader's collate: a batch from ``CacheDataset.__getitems__`` goes as it is, spec and words
    still float16 (half the bytes to copy between processes and to the device; the model casts them to
    its own dtype, on the device: :meth:`mosei_attn.models.base.EmotionModule.forward`); a list of
    single items (another dataset) goes to torch's default collate."""
    if not isinstance(batch, Mapping):
        return default_collate(batch)
    return dict(batch)
