"""The MOSEI corpus reader: labelled segments from the csd files, ``Raw/`` WAVs and transcripts.

Reads a folder in the real CMU-MOSEI layout (docs/data.md; its names:
:mod:`mosei_attn.data.corpora.mosei_layout`), real or synthetic, one video at a time: each csd is opened once
and one entry per video is read. Audio is never read here, only checked to exist.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mosei_attn.data.corpora.csd import ComputationalSequence, CsdFormatError, words_to_str
from mosei_attn.data.corpora.labels import EMOTIONS, LABEL_COLUMNS, label_faults
from mosei_attn.data.corpora.mosei_files import (
    load_folds,
    match_transcript,
    read_transcript,
    standard_folds_path,
)
from mosei_attn.data.corpora.mosei_layout import (
    AUDIO_DIR,
    LABELS_FILE,
    SILENCE_TOKEN,
    TRANSCRIPT_DIR,
    VECTORS_FILE,
    WORDS_FILE,
)
from mosei_attn.data.corpora.segment import Segment
from mosei_attn.data.skip_report import SKIP_REASONS, SkipReport
from mosei_attn.errors import MissingInputError

log = logging.getLogger(__name__)

#: Which words belong to a segment: midpoint inside it, any overlap, or wholly inside it.
WORD_RULES: tuple[str, ...] = ("midpoint", "overlap", "inside")


# Word selection ---------------------------------------------------------------------------------------
def select_words(word_iv: np.ndarray, starts: np.ndarray, ends: np.ndarray, rule: str) -> list[np.ndarray]:
    """Row indices (file order) of the words (W, 2) that belong to each segment [starts[s], ends[s]]."""
    if rule == "midpoint":
        key = word_iv.mean(axis=1)  # (W,)
        order = np.argsort(key, kind="stable")
        lo = np.searchsorted(key[order], starts, side="left")
        hi = np.searchsorted(key[order], ends, side="right")
        return [np.sort(order[a:b]) for a, b in zip(lo, hi, strict=True)]
    if rule == "overlap":
        masks = (word_iv[None, :, 0] < ends[:, None]) & (word_iv[None, :, 1] > starts[:, None])  # (S, W)
    elif rule == "inside":
        masks = (word_iv[None, :, 0] >= starts[:, None]) & (word_iv[None, :, 1] <= ends[:, None])  # (S, W)
    else:
        raise ValueError(f"unknown words rule {rule!r}; choose one of {WORD_RULES}")
    return [np.flatnonzero(m) for m in masks]


# The corpus -------------------------------------------------------------------------------------------
class MoseiCorpus:
    """Every labelled segment of a MOSEI-layout folder, listed lazily one video at a time.

    ``root`` holds the three csds named above and ``Raw/``; ``folds`` is a folds JSON file, in ``root`` or
    absolute (None: the shipped standard folds); ``word_dim`` the word vector width checked in every entry
    (None: unchecked);
    ``words_rule`` one of ``WORD_RULES``; ``time_tolerance`` (seconds) how close a transcript line's
    times must be to a label row's, and the word csds' intervals to each other's. A bad item (a damaged csd
    entry, a label that is not a number or is negative, a malformed transcript line) is skipped and counted
    in the skip report; ``strict`` makes it an error instead.
    """

    #: The arguments that say where the input files are (a resumed run may find them elsewhere).
    LOCATIONS: tuple[str, ...] = ("root", "folds")

    def __init__(
        self,
        root: str | os.PathLike,
        folds: str | os.PathLike | None = None,
        word_dim: int | None = 300,
        words_rule: str = "midpoint",
        time_tolerance: float = 0.01,
        strict: bool = False,
    ):
        self.root = Path(root)
        self.labels_path, self.vectors_path, self.words_path = (
            self.root / name for name in (LABELS_FILE, VECTORS_FILE, WORDS_FILE)
        )
        if not self.root.is_dir():
            raise MissingInputError(
                f"MOSEI corpus folder {self.root} does not exist: give data.root the folder that holds "
                f"{LABELS_FILE}, {VECTORS_FILE}, {WORDS_FILE} and Raw/ (see docs/data.md)"
            )
        missing = [str(p) for p in (self.labels_path, self.vectors_path, self.words_path) if not p.is_file()]
        if missing:
            raise MissingInputError(
                f"MOSEI corpus folder {self.root} is missing {', '.join(missing)}; it should contain "
                f"{LABELS_FILE}, {VECTORS_FILE}, {WORDS_FILE} and Raw/ (see docs/data.md)"
            )
        if words_rule not in WORD_RULES:
            raise ValueError(f"unknown words_rule {words_rule!r}; choose one of {WORD_RULES}")
        self.folds_path = self.root / Path(folds).expanduser() if folds is not None else standard_folds_path()
        self.folds = load_folds(self.folds_path)
        self.word_dim = word_dim
        self.words_rule = words_rule
        self.time_tolerance = time_tolerance
        self.strict = strict
        self.skipped: SkipReport | None = None  # the report of the last complete iteration
        if not (self.root / AUDIO_DIR).is_dir():
            log.warning(
                "%s has no %s folder: every segment will be skipped as 'no audio file'", self.root, AUDIO_DIR
            )

    #: MOSEI's label columns and emotions (a manifest corpus reads its own from the manifest).
    label_columns: tuple[str, ...] = LABEL_COLUMNS
    emotion_names: tuple[str, ...] = EMOTIONS

    def audio_path(self, video: str) -> Path:
        return self.root / AUDIO_DIR / f"{video}.wav"

    def transcript_path(self, video: str) -> Path:
        return self.root / TRANSCRIPT_DIR / f"{video}.txt"

    def video_ids(self) -> list[str]:
        """Video ids of the labels csd, in file order."""
        with self._open_labels() as labels:
            return list(labels)

    def _open_labels(self) -> ComputationalSequence:
        labels = ComputationalSequence(self.labels_path, dim=len(LABEL_COLUMNS))
        try:
            names = labels.metadata.get("dimension names")
        except CsdFormatError:
            labels.close()
            raise
        if not isinstance(names, (list, tuple)) or len(names) != len(LABEL_COLUMNS):
            labels.close()
            raise ValueError(
                f"{self.labels_path}: cannot establish the order of the label columns: its 'dimension names' "
                f"metadata is {names!r}, not a list of {len(LABEL_COLUMNS)} names; refusing it, as a file in "
                f"another order (the 2018 releases used alphabetical order) would give every emotion label "
                f"wrong. Expected {list(LABEL_COLUMNS)}"
            )
        # Compare 3-letter stems, so spellings like "happiness" pass but any other order is refused.
        if [str(n).strip().lower()[:3] for n in names] != [c[:3] for c in LABEL_COLUMNS]:
            labels.close()
            raise ValueError(
                f"{self.labels_path}: label columns are {list(names)}, expected {list(LABEL_COLUMNS)}; "
                "refusing a different order (the 2018 releases used alphabetical order)"
            )
        return labels

    def _words(
        self, words: ComputationalSequence, vectors: ComputationalSequence, video: str
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(words, vectors (W, D) float32, intervals (W, 2)) of one video, silence dropped."""
        # a video absent from a word csd has no words; absent from only one of them is a disagreement
        no_iv = np.zeros((0, 2))
        w_feat, w_iv = words[video] if video in words else (np.zeros((0, 1), "S1"), no_iv)
        v_feat, v_iv = vectors[video] if video in vectors else (np.zeros((0, self.word_dim or 0)), no_iv)
        if w_iv.shape != v_iv.shape or not np.allclose(w_iv, v_iv, atol=self.time_tolerance):
            raise ValueError(
                f"{self.words_path} and {self.vectors_path} disagree for video {video!r}: "
                f"{len(w_iv)} vs {len(v_iv)} rows, or different intervals"
            )
        tokens = words_to_str(w_feat)
        keep = np.array([t != SILENCE_TOKEN for t in tokens], dtype=bool)
        return (
            [t for t, k in zip(tokens, keep, strict=True) if k],
            v_feat[keep].astype(np.float32, copy=False),
            w_iv[keep],
        )

    def iter_segments(self) -> Iterator[Segment]:
        """Yield the usable segments video by video; ``self.skipped`` holds the skip report afterwards."""
        report = SkipReport("corpus reader", reasons=SKIP_REASONS)
        n_kept = 0
        with (
            self._open_labels() as labels,
            ComputationalSequence(self.words_path) as words,
            ComputationalSequence(self.vectors_path, dim=self.word_dim) as vectors,
        ):
            for video in labels:
                try:
                    label_rows, label_iv = labels[video]  # (S, 7), (S, 2)
                    fold = self.folds.get(video)
                    audio = self.audio_path(video)
                    if fold is None or not audio.is_file():
                        ids = [f"{video}[{i}]" for i in range(len(label_iv))]
                        report.add("not in a fold" if fold is None else "no audio file", ids)
                        continue
                    tokens, vecs, word_iv = self._words(words, vectors, video)
                except CsdFormatError as e:
                    if self.strict or e.entry is None or not e.damaged:
                        raise
                    log.warning("skipping video %r: %s", video, e)
                    report.add("unreadable csd entry", [video])
                    continue
                for seg in self._video_segments(
                    video, fold, label_rows, label_iv, (tokens, vecs, word_iv), report
                ):
                    n_kept += 1
                    yield seg
        log.info("corpus reader: %d segment(s) kept from %s", n_kept, self.root)
        report.log(log)
        self.skipped = report

    def _video_segments(
        self,
        video: str,
        fold: str,
        label_rows: np.ndarray,
        label_iv: np.ndarray,
        words: tuple[list[str], np.ndarray, np.ndarray],
        report: SkipReport,
    ) -> Iterator[Segment]:
        """The usable segments of one video; the others are counted in ``report``."""
        tokens, vecs, word_iv = words
        starts, ends = np.maximum(label_iv[:, 0], 0.0), label_iv[:, 1]  # negative starts -> 0
        chosen = select_words(word_iv, starts, ends, self.words_rule)
        tpath, bad_lines = self.transcript_path(video), ([] if not self.strict else None)
        lines = read_transcript(tpath, bad_lines) if tpath.is_file() else []
        for bad in bad_lines or []:
            report.add("malformed transcript line", [bad])
        texts = match_transcript(lines, label_iv[:, 0], ends, self.time_tolerance)
        faults = label_faults(label_rows)  # a NaN or negative intensity never becomes a target
        for i, rows in enumerate(chosen):
            sid = f"{video}[{i}]"
            fault = next((why for why, mask in faults.items() if mask[i]), None)
            if fault is not None:
                if self.strict:
                    raise ValueError(f"{self.labels_path}, segment {sid}: {fault}: {label_rows[i].tolist()}")
                report.add(fault, [sid])
            elif ends[i] - starts[i] <= 0:
                report.add("zero length", [sid])
            elif len(rows) == 0:
                report.add("no words", [sid])
            else:
                yield Segment(
                    video_id=video,
                    index=i,
                    start=float(starts[i]),
                    end=float(ends[i]),
                    words=tuple(tokens[j] for j in rows),
                    word_vectors=vecs[rows],
                    labels=np.asarray(label_rows[i], dtype=np.float32),
                    fold=fold,
                    audio_path=self.audio_path(video),
                    text=texts[i],
                )

    def scan(self) -> tuple[list[Segment], SkipReport]:
        """Every usable segment, and the report of those skipped."""
        segments = list(self.iter_segments())
        assert self.skipped is not None
        return segments, self.skipped

    def input_files(self) -> list[Path]:
        """The files the segments depend on: the csds, the folds file, and the WAVs/transcripts that exist."""
        files = [self.labels_path, self.vectors_path, self.words_path, self.folds_path]
        for video in self.video_ids():
            files += [p for p in (self.audio_path(video), self.transcript_path(video)) if p.is_file()]
        return files

    def fingerprint(self) -> str:
        """sha256 hex of (relative path, size, mtime_ns) of ``input_files()``, the folds and the reader
        settings.

        Cheap: files are only stat-ed (the labels csd is opened for its video ids; audio is never read).
        The folds enter by content, so reinstalling the package (a new mtime of the shipped folds file)
        does not change the fingerprint.
        """
        h = hashlib.sha256()
        for path in self.input_files():
            if path == self.folds_path:
                continue
            st = path.stat()
            h.update(f"{path.relative_to(self.root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        h.update(json.dumps(sorted(self.folds.items())).encode())
        h.update(json.dumps([self.word_dim, self.words_rule, self.time_tolerance]).encode())
        return h.hexdigest()
