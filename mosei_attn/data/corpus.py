"""The MOSEI corpus reader: labelled segments from the csd files, ``Raw/`` WAVs and transcripts.

Reads a folder in the real CMU-MOSEI layout (FORMAT.md), real or synthetic, one video at a time: each csd
is opened once and one entry per video is read. Audio is never read here, only checked to exist.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mosei_attn.data.csd import ComputationalSequence, CsdFormatError, words_to_str
from mosei_attn.data.labels import EMOTIONS, LABEL_COLUMNS, label_faults
from mosei_attn.data.segment import Segment

log = logging.getLogger(__name__)

LABELS_FILE = "CMU_MOSEI_Labels.csd"
VECTORS_FILE = "CMU_MOSEI_TimestampedWordVectors.csd"
WORDS_FILE = "CMU_MOSEI_TimestampedWords.csd"
AUDIO_DIR = Path("Raw/Audio/Full/WAV_16000")
TRANSCRIPT_DIR = Path("Raw/Transcript/Segmented/Combined")
FOLD_NAMES: tuple[str, ...] = ("train", "valid", "test")
SILENCE_TOKEN = "sp"
#: Which words belong to a segment: midpoint inside it, any overlap, or wholly inside it.
WORD_RULES: tuple[str, ...] = ("midpoint", "overlap", "inside")
#: Why a segment is left out. The reader finds the first group; the feature cache builder, which reads the
#: audio, the second. "malformed transcript line" counts lines (their segments keep their words, not a text).
SKIP_REASONS: tuple[str, ...] = (
    "no audio file", "no words", "zero length", "not in a fold", "unreadable csd entry",
    "label not a number", "negative emotion intensity", "malformed transcript line",
    "unreadable audio file", "audio sample rate too low", "starts past the end of its audio", "empty audio cut",
)  # fmt: skip
TRANSCRIPT_SEP = "___"


# Folds ----------------------------------------------------------------------------------------------
def _standard_folds_path() -> Path:
    return Path(str(resources.files("mosei_attn") / "resources" / "standard_folds.json"))


def load_folds(path: str | os.PathLike | None = None) -> dict[str, str]:
    """Video id -> ``"train"``/``"valid"``/``"test"`` from a folds JSON file (None: the shipped standard folds)."""
    path = Path(path) if path is not None else _standard_folds_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read folds JSON ({e})") from e
    if not isinstance(raw, dict) or set(raw) - set(FOLD_NAMES):
        raise ValueError(f"{path}: expected an object with keys among {FOLD_NAMES}")
    folds: dict[str, str] = {}
    for fold, ids in raw.items():
        if not isinstance(ids, list):
            raise ValueError(f"{path}: fold {fold!r} must be a list of video ids")
        for vid in ids:
            if not isinstance(vid, str):  # 81406 written as a number: ids must stay strings
                raise ValueError(f"{path}: fold {fold!r} holds a non-string video id {vid!r}")
            if folds.get(vid, fold) != fold:
                raise ValueError(f"{path}: video id {vid!r} is in both {folds[vid]!r} and {fold!r}")
            folds[vid] = fold
    return folds


# Transcripts ----------------------------------------------------------------------------------------
class TranscriptLine(NamedTuple):
    """One line of a segmented transcript; times in seconds within the full video."""

    video: str
    clip: str
    start: float
    end: float
    text: str


def parse_transcript_line(line: str) -> TranscriptLine:
    """Parse ``video___clip___start___end___text``; the text may itself hold runs of underscores."""
    parts = line.rstrip("\r\n").split(TRANSCRIPT_SEP, 4)
    if len(parts) != 5:
        raise ValueError(
            f"expected video{TRANSCRIPT_SEP}clip{TRANSCRIPT_SEP}start{TRANSCRIPT_SEP}end"
            f"{TRANSCRIPT_SEP}text, got {len(parts)} field(s)"
        )
    video, clip, start, end, text = parts
    try:
        return TranscriptLine(video, clip, float(start), float(end), text.strip())
    except ValueError as e:
        raise ValueError(f"start/end are not numbers ({start!r}, {end!r})") from e


def read_transcript(path: str | os.PathLike, bad_lines: list[str] | None = None) -> list[TranscriptLine]:
    """All lines of a ``Raw/Transcript/Segmented/Combined/<video>.txt`` file (blank lines ignored).

    A malformed line raises ValueError naming the file and line, unless ``bad_lines`` is a list: then the
    line is left out and its description appended there.
    """
    path = Path(path)
    lines = []
    # errors="replace": a stray byte in a transcript must not stop the whole corpus
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                lines.append(parse_transcript_line(line))
            except ValueError as e:
                if bad_lines is None:
                    raise ValueError(f"{path}, line {lineno}: malformed transcript line: {e}") from e
                bad_lines.append(f"{path.name}:{lineno} ({e})")
    return lines


# Skip report ----------------------------------------------------------------------------------------
class SkipReport(Counter):
    """Segments skipped, counted by reason (one of ``SKIP_REASONS``), with a few example segment ids."""

    def __init__(self, max_examples: int = 3):
        super().__init__()
        self.max_examples = max_examples
        self.examples: dict[str, list[str]] = {}

    @property
    def example_dict(self) -> dict[str, list[str]]:
        """A few examples per reason, for the cache's attributes."""
        return {k: list(v) for k, v in self.examples.items() if self[k]}

    def add(self, reason: str, segment_ids: list[str]) -> None:
        if reason not in SKIP_REASONS:
            raise ValueError(f"unknown skip reason {reason!r}; expected one of {SKIP_REASONS}")
        if segment_ids:
            self[reason] += len(segment_ids)
            ex = self.examples.setdefault(reason, [])
            ex.extend(segment_ids[: self.max_examples - len(ex)])

    def log(self, logger: logging.Logger = log) -> None:
        if not self:
            logger.info("corpus reader: no segments skipped")
        for reason in SKIP_REASONS:
            if self[reason]:
                logger.warning(
                    "skipped %d segment(s): %s (e.g. %s)",
                    self[reason],
                    reason,
                    ", ".join(self.examples[reason]),
                )


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


def match_transcript(
    lines: list[TranscriptLine], starts: np.ndarray, ends: np.ndarray, tolerance: float
) -> list[str | None]:
    """Text of the transcript line whose (start, end) matches each segment's within ``tolerance`` s."""
    if not lines:
        return [None] * len(starts)
    t_iv = np.array([(ln.start, ln.end) for ln in lines], dtype=np.float64)  # (T, 2)
    hit = (np.abs(t_iv[None, :, 0] - starts[:, None]) <= tolerance) & (
        np.abs(t_iv[None, :, 1] - ends[:, None]) <= tolerance
    )  # (S, T)
    return [lines[int(row.argmax())].text if row.any() else None for row in hit]


# The corpus -------------------------------------------------------------------------------------------
class MoseiCorpus:
    """Every labelled segment of a MOSEI-layout folder, listed lazily one video at a time.

    ``root`` holds the three csds named above and ``Raw/``; ``folds`` is a folds JSON path (None: the
    shipped standard folds); ``word_dim`` the word vector width checked in every entry (None: unchecked);
    ``words_rule`` one of ``WORD_RULES``; ``time_tolerance`` (seconds) how close a transcript line's
    times must be to a label row's, and the word csds' intervals to each other's. A bad item (a damaged csd
    entry, a label that is not a number or is negative, a malformed transcript line) is skipped and counted
    in the skip report; ``strict`` makes it an error instead.
    """

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
        missing = [str(p) for p in (self.labels_path, self.vectors_path, self.words_path) if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"MOSEI corpus folder {self.root} is missing {', '.join(missing)}; it should contain "
                f"{LABELS_FILE}, {VECTORS_FILE}, {WORDS_FILE} and Raw/ (see FORMAT.md)"
            )
        if words_rule not in WORD_RULES:
            raise ValueError(f"unknown words_rule {words_rule!r}; choose one of {WORD_RULES}")
        self.folds_path = Path(folds) if folds is not None else _standard_folds_path()
        self.folds = load_folds(self.folds_path)
        self.word_dim, self.words_rule, self.time_tolerance = word_dim, words_rule, time_tolerance
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
                f"{self.labels_path}: label columns are {list(names)}, expected {list(LABEL_COLUMNS)}; refusing "
                "a different order (the 2018 releases used alphabetical order)"
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
        report = SkipReport()
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
        report.log()
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
        """sha256 hex of (relative path, size, mtime_ns) of ``input_files()``, the folds and the reader settings.

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
