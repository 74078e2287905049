"""Build a corpus's feature cache: ``python -m mosei_attn.prepare data=mosei data.root=/data/CMU_MOSEI``.

Idempotent: asking again with the same corpus and settings reuses the cache; other settings build another.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from mosei_attn.training.build import build_datamodule
from mosei_attn.utils import CONFIG_DIR


def prepare_cache(cfg: DictConfig) -> str:
    """Write the corpus (synthetic) and its feature cache; print the split sizes; return the cache path."""
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    datamodule.setup()
    meta = datamodule.meta
    sizes = {split: len(datamodule.dataset(split)) for split in ("train", "val", "test")}
    print(f"cache: {datamodule.cache_path}")
    print(f"segments by split ({meta.label_rule}): {sizes}")
    print(
        "train class counts: "
        + ", ".join(f"{n} {c}" for n, c in zip(meta.emotion_names, meta.class_counts, strict=True))
    )
    return str(datamodule.cache_path)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="prepare")
def main(cfg: DictConfig) -> None:
    prepare_cache(cfg)


if __name__ == "__main__":
    main()
