"""Data: MOSEI-format corpora (real or synthetic) -> feature cache -> batches.

``MoseiDataModule`` is imported lazily: feature extraction workers import this package and should not pay
for importing Lightning.
"""

from typing import Any

from mosei_attn.data.corpora.labels import EMOTIONS, LABEL_COLUMNS, LABEL_RULES
from mosei_attn.data.meta import DataMeta

__all__ = ["EMOTIONS", "LABEL_COLUMNS", "LABEL_RULES", "DataMeta", "MoseiDataModule"]


def __getattr__(name: str) -> Any:
    if name == "MoseiDataModule":
        from mosei_attn.data.datamodule import MoseiDataModule

        return MoseiDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
