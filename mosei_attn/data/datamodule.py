"""MoseiDataModule: corpus folder -> feature cache -> train / val / test loaders over the standard folds."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from torch.utils.data import DataLoader

from mosei_attn.data.corpora.labels import LABEL_RULES, class_counts, derive_targets, label_faults, no_emotion
from mosei_attn.data.corpora.protocol import Corpus
from mosei_attn.data.dataset import CacheDataset, collate_batch
from mosei_attn.data.features.extractors import AudioFeatures, TextFeatures
from mosei_attn.data.meta import DataMeta
from mosei_attn.process import worker_setup

log = logging.getLogger(__name__)

#: What the cache's fingerprint sees of the input files (``data.verify``): ``stat`` their paths, sizes and
#: modification times; ``content`` also every byte (hashed: reads the whole corpus once per run).
VERIFY_MODES = ("stat", "content")
#: Bytes read at a time when hashing file contents.
HASH_BLOCK = 1 << 20
#: Lightning stage -> corpus fold.
SPLIT_FOLDS: dict[str, str] = {"train": "train", "val": "valid", "test": "test"}


class MoseiDataModule(L.LightningDataModule):
    """MOSEI-format corpus -> cached features -> batches.

    ``corpus`` makes the corpus reader (a Hydra ``_partial_`` of
    :class:`~mosei_attn.data.corpora.mosei.MoseiCorpus` or
    :class:`~mosei_attn.data.corpora.manifest.ManifestCorpus`: built when needed, not when configured);
    ``write_corpus``, when given, writes the corpus first (the synthetic generator; idempotent). ``root``, the
    corpus folder (``data.root``), is given to the ``corpus``, ``write_corpus`` and ``extras`` factories as
    their
    ``root``; a relative ``word_vectors["path"]`` is a file in it.
    ``prepare_data`` (one process) writes the corpus and builds the feature cache if needed. ``setup`` opens
    nothing heavy: the HDF5 cache is opened lazily in each DataLoader worker. Batches hold ``spec`` (B, 1, F,
    T), ``spec_len``, ``words`` (B, L, D),
    ``word_len``, ``target`` (class index, or (B, E) 0/1 for ``multilabel``) and ``index`` (cache row).
    ``extras``, when given, makes an extras provider (a Hydra ``_partial_``, e.g. the synthetic corpus's
    truth): ``arrays(cache, audio)`` gives per-row arrays that join the batches as
    :data:`~mosei_attn.data.dataset.EXTRA_PREFIX` fields, ``callbacks()`` the Lightning callbacks that read
    them (:meth:`callbacks`), ``annotate(item)`` a figure's tag and highlighted frames.
    ``batch_size`` is per process (per GPU under DDP).
    """

    def __init__(
        self,
        corpus: Callable[..., Corpus],
        root: str | os.PathLike | None = None,
        name: str = "mosei",
        write_corpus: Callable[..., Any] | None = None,
        cache_dir: str = "data/cache",
        label_rule: str = "argmax",
        batch_size: int = 32,
        num_workers: int = 0,
        feature_workers: int | None = None,
        audio: AudioFeatures | Mapping[str, Any] | None = None,
        text: TextFeatures | Mapping[str, Any] | None = None,
        word_vectors: Mapping[str, Any] | None = None,
        pin_memory: bool = False,
        strict: bool = False,
        extras: Callable[..., Any] | None = None,
        verify: str = "stat",
    ):
        super().__init__()
        if label_rule not in LABEL_RULES:
            raise ValueError(f"unknown label_rule {label_rule!r}; choose one of {', '.join(LABEL_RULES)}")
        if verify not in VERIFY_MODES:
            raise ValueError(f"unknown data.verify={verify!r}; choose one of {', '.join(VERIFY_MODES)}")
        self.verify = verify
        self._content_hashes: dict[str, str] = {}  # the stat fingerprint -> its content hash (hashed once)
        self.root = {} if root is None else {"root": root}  # what the factories are called with
        self.make_corpus = corpus
        self.write_corpus = write_corpus
        self.name = name
        self.make_extras = extras
        self.extras_provider = None
        self.cache_dir = Path(cache_dir)
        self.label_rule = label_rule
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.feature_workers = feature_workers
        self.pin_memory = pin_memory
        self.strict = strict
        self.audio = audio if isinstance(audio, AudioFeatures) else AudioFeatures.from_dict(dict(audio or {}))
        self.text = text if isinstance(text, TextFeatures) else TextFeatures.from_dict(dict(text or {}))
        self.word_vectors = dict(word_vectors or {})
        if self.word_vectors.get("path"):  # absolute: checkpoints record it for prediction from anywhere
            path = Path(root or "", Path(self.word_vectors["path"]).expanduser())
            self.word_vectors["path"] = str(path.resolve())
        self.cache_path: Path | None = None
        self._cache = None
        self._splits: dict[str, CacheDataset] = {}
        self._meta: DataMeta | None = None
        self.corpus_emotions: tuple[str, ...] = ()
        self.label_report: dict[str, dict[str, int]] = {}

    # ---------------------------------------------------------------------------------------------
    def corpus(self) -> Corpus:
        """The corpus reader (MOSEI layout or a manifest), built by the ``corpus`` factory."""
        return self.make_corpus(**self.root)

    def fingerprint(self, corpus: Corpus) -> str:
        """The corpus's fingerprint (the cache's key); with ``verify="content"``, also a hash of every byte of
        its input files, so a file replaced with other bytes of the same size and time is seen. The content
        is hashed once per stat fingerprint: prepare_data and setup of one run read every byte once."""
        fingerprint = corpus.fingerprint()
        if self.verify != "content":
            return fingerprint
        if fingerprint not in self._content_hashes:
            h = hashlib.sha256(fingerprint.encode())
            for path in corpus.input_files():
                with open(path, "rb") as f:
                    while block := f.read(HASH_BLOCK):
                        h.update(block)
            self._content_hashes[fingerprint] = h.hexdigest()
        return self._content_hashes[fingerprint]

    def prepare_data(self) -> None:
        # Lightning calls this again inside fit(); the entry points already called it: scan the corpus once.
        if self.cache_path is not None and self.cache_path.is_file():
            return
        if self.write_corpus is not None:
            self.write_corpus(**self.root)
        self.cache_path = self.build_cache()

    def cache_of(self, corpus: Corpus) -> tuple[Path, str]:
        """(the path of the feature cache of ``corpus`` as it is now, the corpus's fingerprint)."""
        from mosei_attn.data.cache.build import cache_path

        fingerprint = self.fingerprint(corpus)
        return cache_path(self.cache_dir, self.name, self.audio, self.text, fingerprint), fingerprint

    def build_cache(self) -> Path:
        """Build (or reuse) this corpus's feature cache and return its path. A cache of the corpus as it is
        (its fingerprint) is reused without reading the corpus again; what its build skipped is logged from
        the cache's attributes."""
        from mosei_attn.data.cache.build import build_cache
        from mosei_attn.data.cache.reader import validate_cache
        from mosei_attn.data.cache.tally import stored_reports

        corpus = self.corpus()
        path, fingerprint = self.cache_of(corpus)
        if path.is_file():
            names, columns = corpus.emotion_names, corpus.label_columns
            attrs = validate_cache(path, self.audio, self.text, fingerprint, names, columns)
            log.info("%s: reused (%d segments), corpus not read again", path.name, attrs["counts"]["total"])
            for report in stored_reports(path.name, attrs):  # as its build logged them
                report.log(log)
            return path
        segments, skipped = corpus.scan()
        return build_cache(
            segments,
            self.audio,
            self.text,
            cache_dir=self.cache_dir,
            name=self.name,
            fingerprint=fingerprint,
            extra_attrs={"corpus_root": str(corpus.root)},
            skipped=skipped,
            workers=self.feature_workers,
            strict=self.strict,
            emotion_names=corpus.emotion_names,
            label_columns=corpus.label_columns,
        )

    def setup(self, stage: str | None = None) -> None:
        if self._splits:
            return
        from mosei_attn.data.cache.reader import FeatureCache, validate_cache

        corpus = self.corpus()
        path, fingerprint = self.cache_of(corpus)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: feature cache missing; run prepare_data() / `python -m mosei_attn.prepare`"
            )
        names = tuple(corpus.emotion_names)
        self.corpus_emotions = names
        validate_cache(path, self.audio, self.text, fingerprint, names, corpus.label_columns)
        self.cache_path = path
        self._cache = FeatureCache(path)
        labels, folds = self._cache.labels, self._cache.fold
        targets, keep = derive_targets(labels, self.label_rule, names)
        full_targets = np.zeros((len(labels),) + targets.shape[1:], dtype=targets.dtype)
        full_targets[keep] = targets
        self.extras_provider = self.make_extras(**self.root) if self.make_extras else None
        extra = self.extras_provider.arrays(self._cache, self.audio) if self.extras_provider else {}
        for split, fold in SPLIT_FOLDS.items():
            rows = np.flatnonzero((folds == fold) & keep)
            split_extra = {k: v[rows] for k, v in extra.items()}
            self._splits[split] = CacheDataset(self._cache, rows, full_targets[rows], split_extra)
        self.label_report = self._report_labels(path.name, labels, folds, keep)
        counts = class_counts(self._splits["train"].targets, len(names))
        self._report_absent_classes(path.name, names)
        self._meta = DataMeta(
            emotion_names=names,
            label_rule=self.label_rule,
            spec_shape=(self.audio.freq_bins, self.audio.max_frames),
            text_shape=(self.text.max_words, self.text.dim),
            class_counts=tuple(int(c) for c in counts),
            features={"audio": self.audio.to_dict(), "text": self.text.to_dict()},
            word_vectors=dict(self.word_vectors),
        )

    def _report_labels(self, name: str, labels: np.ndarray, folds: np.ndarray, keep: np.ndarray) -> dict:
        """Count and log, per split, the rows dropped for a faulty label or by the rule, and the all-zero rows
        that ``argmax`` turns into the first emotion. Returns ``{split: {what: count}}``."""
        faults, zero = label_faults(labels), no_emotion(labels)
        report: dict[str, dict[str, int]] = {}
        for split, fold in SPLIT_FOLDS.items():
            in_fold = folds == fold
            counts = {why: int((mask & in_fold).sum()) for why, mask in faults.items()}
            counts["dropped by the label rule"] = int((in_fold & ~keep).sum()) - sum(counts.values())
            if self.label_rule == "argmax":
                counts["no emotion (all zero)"] = int((in_fold & keep & zero).sum())
            report[split] = counts
            for why, n in counts.items():
                if n and why.startswith("no emotion"):
                    first = self.corpus_emotions[0] if self.corpus_emotions else "the first emotion"
                    log.warning(
                        "%s: %d %s segment(s) have no emotion (all intensities 0): label rule 'argmax' makes "
                        "them %r",
                        name,
                        n,
                        split,
                        first,
                    )
                elif n:
                    log.warning("%s: %d %s segment(s) dropped: %s", name, n, split, why)
        return report

    def _report_absent_classes(self, name: str, names: tuple[str, ...]) -> None:
        """Warn, per split, of the emotions it holds no example of (said before training, not found after)."""
        for split, dataset in self._splits.items():
            counts = class_counts(dataset.targets, len(names))
            absent = [n for n, c in zip(names, counts, strict=True) if c == 0]
            if not absent or not len(dataset):
                continue
            why = (
                "the model cannot learn them"
                if split == "train"
                else "their recall is not measured (UA averages the rest)"
            )
            log.warning(
                "%s: no %s example of %s: %s (%s counts %s)",
                name,
                split,
                absent,
                why,
                split,
                dict(zip(names, counts.tolist(), strict=True)),
            )

    def callbacks(self) -> list[L.Callback]:
        """The callbacks the data's extras need (after :meth:`setup`): e.g. the cue metrics of a corpus
        with truth; none for plain data."""
        return self.extras_provider.callbacks() if self.extras_provider else []

    def annotate(self, item: Mapping[str, Any]) -> tuple[str, np.ndarray | None, str]:
        """A figure's title tag, highlighted frames (T,) and their legend label for a dataset item, from the
        extras provider; nothing for plain data."""
        return self.extras_provider.annotate(dict(item)) if self.extras_provider else ("", None, "")

    def require_splits(self, *splits: str) -> None:
        """Refuse (ValueError) before any training when one of ``splits`` holds no segment."""
        sizes = {split: len(self.dataset(split)) for split in SPLIT_FOLDS}
        empty = [s for s in splits if sizes[s] == 0]
        if empty:
            what = ", ".join(f"{s!r} (fold {SPLIT_FOLDS[s]!r})" for s in empty)
            raise ValueError(
                f"{self.cache_path}: no usable segment in split(s) {what}; segments per split: {sizes}. "
                "Check the folds / the manifest's split column and the skip report above"
                + ("; test=false trains without a test split" if "test" in empty else "")
            )

    # ---------------------------------------------------------------------------------------------
    @property
    def meta(self) -> DataMeta:
        if self._meta is None:
            raise RuntimeError("call setup() before reading the data's metadata")
        return self._meta

    def dataset(self, split: str) -> CacheDataset:
        if split not in self._splits:
            raise KeyError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_FOLDS)}")
        return self._splits[split]

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset, sampler = self.dataset(split), None
        trainer = getattr(self, "trainer", None)
        if not shuffle and trainer is not None and trainer.world_size > 1:
            # Evaluation under DDP: each segment on exactly one rank (Lightning's default sampler pads the
            # split with repeats so ranks get equal shares, which would count some segments twice).
            from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

            sampler = UnrepeatedDistributedSampler(
                dataset, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False
            )
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=collate_batch,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            worker_init_fn=worker_setup if self.num_workers > 0 else None,
            drop_last=False,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
