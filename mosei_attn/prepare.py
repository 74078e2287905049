"""Build a corpus's feature cache: ``python -m mosei_attn.prepare data=mosei data.root=/data/CMU_MOSEI``.

Idempotent: asking again with the same corpus and settings reuses the cache; other settings build another.
On real MOSEI (or with ``--label-report`` / ``label_report=true``) it also prints the training fold's class
counts under every label rule beside the paper's (:mod:`mosei_attn.reporting.label_report`).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from mosei_attn.config import CONFIG_DIR
from mosei_attn.data.cache.reader import read_attrs
from mosei_attn.errors import discarded_on_user_fault, user_errors
from mosei_attn.process import process_setup
from mosei_attn.reporting.label_report import format_label_report, label_report
from mosei_attn.signatures import register_signatures
from mosei_attn.training.build import build_datamodule
from mosei_attn.training.checks import check_data_settings

#: Command-line flags of this entry point and the config override each stands for.
FLAGS = {"--label-report": "label_report=true"}


def prepare_cache(cfg: DictConfig) -> str:
    """Write the corpus (synthetic) and its feature cache; print the split sizes, what was skipped (and, for
    real MOSEI or when ``cfg.label_report``, the label-rule report); return the cache path."""
    check_data_settings(cfg.data)
    datamodule = build_datamodule(cfg.data)
    datamodule.prepare_data()
    datamodule.setup()
    meta = datamodule.meta
    sizes = {split: len(datamodule.dataset(split)) for split in ("train", "val", "test")}
    attrs = read_attrs(datamodule.cache_path)
    print(f"cache: {datamodule.cache_path}")
    print(f"segments by split ({meta.label_rule}): {sizes}")
    # what the build left out or remarked on (stored in the cache, so a reused cache reports it too)
    print(f"skipped, by reason: {attrs.get('skipped') or 'none'}")
    print(f"kept with a remark: {(attrs.get('audio_notes') or {}).get('counts') or 'none'}")
    print(
        "train class counts: "
        + ", ".join(f"{n} {c}" for n, c in zip(meta.emotion_names, meta.class_counts, strict=True))
    )
    wanted = cfg.get("label_report")
    if wanted or (wanted is None and datamodule.name == "mosei"):
        cache = datamodule.dataset("train").cache
        print(format_label_report(label_report(cache.labels, cache.fold, meta.emotion_names, "train")))
    return str(datamodule.cache_path)


def hydra_argv(argv: list[str]) -> list[str]:
    """``sys.argv`` with this command's flags (``--label-report``) as the config overrides they stand for."""
    return [FLAGS.get(arg, arg) for arg in argv]


register_signatures()  # before Hydra composes: every argument's default (mosei_attn/signatures.py)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="prepare")
def main(cfg: DictConfig) -> None:
    process_setup()  # malloc and warning filters for this process (not at import)
    # a full disk, a damaged cache, a stale one: one line, and no log folder left for it
    with user_errors(), discarded_on_user_fault(cfg.paths.output_dir):
        prepare_cache(cfg)


def cli() -> None:
    """``python -m mosei_attn.prepare`` and the ``mosei-attn-prepare`` console script."""
    sys.argv = hydra_argv(sys.argv)
    main()


if __name__ == "__main__":
    cli()
