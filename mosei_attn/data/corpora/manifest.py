"""A corpus from a user's own data: a manifest (CSV, TSV or JSONL) of audio files, transcripts, labels,
splits.

One row per segment. Columns: ``audio`` (a path, relative to the manifest's folder unless absolute or
``audio_root`` is given), optional ``start``/``end`` (seconds; absent: the whole file), ``text`` (the
transcript), the split (``train``, ``valid``/``val``/``validation``/``dev``, ``test``), and EITHER
``emotion`` (one emotion name per row) OR one column per emotion holding its intensity (>= 0). An
optional ``sentiment`` column fills label column 0 (else 0.0). Emotion names come from the manifest,
so any set works (six MOSEI emotions, four IEMOCAP classes, ...). It offers the ``MoseiCorpus`` API
(``scan``, ``iter_segments``, ``fingerprint``, ``input_files``, ``root``), so the same feature cache
and DataModule serve both. Bad rows are skipped and reported by row number (as in the file: a CSV's
first data row is row 2) and reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from mosei_attn.data.corpora.manifest_file import (
    MAX_REASONS_IN_ERROR,
    number,
    read_manifest,
    value,
)
from mosei_attn.data.corpora.segment import Segment
from mosei_attn.data.features.embeddings import WordVectors, tokenize
from mosei_attn.data.shared_audio import warn_shared_audio
from mosei_attn.data.skip_report import SkipReport

log = logging.getLogger(__name__)

#: Columns that are never emotion intensities (the split column is added to these).
RESERVED_COLUMNS: tuple[str, ...] = ("audio", "start", "end", "text", "emotion", "sentiment", "id", "speaker")
#: Accepted split spellings (lowercased) -> fold.
SPLIT_NAMES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "val": "valid",
    "validation": "valid",
    "dev": "valid",
    "test": "test",
    "testing": "test",
}
#: Fewest rows an emotion found in a manifest must have (when the user does not list the emotions).
MIN_EXAMPLES = 5
#: Two emotion names this similar (difflib ratio) look like one name and a typo of it ("hapy", "happy").
TYPO_SIMILARITY = 0.8


class ManifestCorpus:
    """The labelled segments a manifest lists, with the same API as ``MoseiCorpus``.

    ``word_vectors``: a ``WordVectors`` or the path of a GloVe-format text file (``word_dim`` wide, None:
    any; its binary copy cached in ``vectors_cache_dir``). ``emotions``: the
    emotion names in label-column order (None: the sorted ``emotion`` values, or the intensity
    columns in file order). ``audio_root``: folder that relative audio paths start from (None: the
    manifest's folder). ``split_column``: the column holding each row's split. Emotion names in an
    ``emotion`` column are matched without regard to case ("Happy" is "happy"); found, not listed, a name
    that looks like a typo of another, or with fewer than ``min_examples`` rows, is refused with the counts.
    """

    #: The arguments that say where the input files are (a resumed run may find them elsewhere).
    LOCATIONS: tuple[str, ...] = ("word_vectors", "vectors_cache_dir")

    def __init__(
        self,
        manifest: str | os.PathLike,
        word_vectors: WordVectors | str | os.PathLike,
        emotions: Sequence[str] | None = None,
        audio_root: str | os.PathLike | None = None,
        split_column: str = "split",
        word_dim: int | None = None,
        vectors_cache_dir: str | os.PathLike | None = None,
        min_examples: int = MIN_EXAMPLES,
    ):
        self.manifest = Path(manifest)
        self.min_examples = min_examples
        if not self.manifest.is_file():
            raise FileNotFoundError(f"{self.manifest}: manifest file not found")
        self.root = self.manifest.parent
        self.audio_root = Path(audio_root) if audio_root is not None else None
        self.word_vectors = (
            word_vectors
            if isinstance(word_vectors, WordVectors)
            else WordVectors.load(word_vectors, dim=word_dim, cache_dir=vectors_cache_dir)
        )
        self.split_column = split_column
        self.columns, self._rows = read_manifest(self.manifest)
        missing = [c for c in ("audio", "text", split_column) if c not in self.columns]
        if missing:
            raise ValueError(f"{self.manifest}: missing column(s) {missing}; the columns are {self.columns}")
        self.named = "emotion" in self.columns  # one emotion name per row, else intensity columns
        self._emotions = self._find_emotions(emotions)
        self.skipped: SkipReport | None = None  # the report of the last complete iteration

    def _find_emotions(self, emotions: Sequence[str] | None) -> tuple[str, ...]:
        if emotions is not None:
            names = tuple(str(e).strip() for e in emotions)
            if len({n.casefold() for n in names}) != len(names) or not names:
                raise ValueError(f"emotions must be distinct names, got {list(emotions)}")
            absent = [] if self.named else [e for e in names if e not in self.columns]
            if absent:
                raise ValueError(
                    f"{self.manifest}: no column for emotion(s) {absent}; the columns are {self.columns}"
                )
            return names
        if self.named:
            found = Counter(
                str(v).casefold()
                for _, row in self._rows
                if isinstance(row, dict) and (v := value(row, "emotion"))
            )
            self._check_found(found)
            names = tuple(sorted(found))
        else:
            names = tuple(c for c in self.columns if c not in (*RESERVED_COLUMNS, self.split_column))
        if not names:
            raise ValueError(
                f"{self.manifest}: no emotion labels: give an 'emotion' column (one name per row) or one "
                f"intensity column per emotion; the columns are {self.columns}"
            )
        log.info("manifest %s: emotions %s", self.manifest, list(names))
        return names

    def _check_found(self, found: Counter) -> None:
        """Refuse emotion names found in the manifest that look like typos of another or are too rare."""
        import difflib

        faults = []
        for name, n in sorted(found.items()):
            like = [o for o in found if o != name and found[o] >= n]
            like = difflib.get_close_matches(name, like, n=1, cutoff=TYPO_SIMILARITY)
            if like:
                faults.append(f"{name!r} ({n} rows) looks like a typo of {like[0]!r} ({found[like[0]]} rows)")
            elif n < self.min_examples:
                faults.append(f"{name!r} has {n} row(s), fewer than {self.min_examples}")
        if faults:
            raise ValueError(
                f"{self.manifest}: emotion names {dict(sorted(found.items()))} (rows each): "
                f"{'; '.join(faults)}. Fix those rows, or list the emotions to train on "
                "(data.corpus.emotions=[...]): rows with any other name are then skipped and reported"
            )

    @property
    def emotion_names(self) -> tuple[str, ...]:
        return self._emotions

    @property
    def label_columns(self) -> tuple[str, ...]:
        return ("sentiment", *self._emotions)

    def audio_path(self, value: Any) -> Path:
        """The audio file a row's ``audio`` value names."""
        p = Path(str(value))
        return p if p.is_absolute() else (self.audio_root or self.root) / p

    def _labels(self, row: dict[str, Any]) -> np.ndarray:
        """(1 + E,) float32: sentiment, then one intensity per emotion. Raises ValueError."""
        raw = value(row, "sentiment")
        try:
            sentiment = 0.0 if raw is None else float(raw)
            if not math.isfinite(sentiment):
                raise ValueError
        except (TypeError, ValueError):
            raise ValueError(f"sentiment={raw!r} is not a finite number") from None
        if self.named:
            name = value(row, "emotion")
            folded = [e.casefold() for e in self._emotions]
            if name is None or str(name).casefold() not in folded:
                raise ValueError(f"emotion {name!r} is not one of {list(self._emotions)}")
            emo = [float(e == str(name).casefold()) for e in folded]
        else:
            emo = [number(value(row, e), e) for e in self._emotions]
        return np.array([sentiment, *emo], dtype=np.float32)

    def _segment(
        self, rowno: int, row: dict[str, Any], audio_info: dict[Path, Any]
    ) -> Segment | tuple[str, str]:
        """The row's Segment, or (reason, detail) when it cannot be used."""
        split = value(row, self.split_column)
        fold = SPLIT_NAMES.get(str(split).lower())
        if fold is None:
            return "bad split", f"{split!r} is not one of {sorted(SPLIT_NAMES)}"
        try:
            labels = self._labels(row)
        except ValueError as e:
            return "unknown label", str(e)
        text = value(row, "text")
        tokens = tokenize(str(text)) if text is not None else []
        if not tokens:
            return "empty transcript", ""
        try:
            start, end = (None if (v := value(row, k)) is None else number(v, k) for k in ("start", "end"))
        except ValueError as e:
            return "bad times", str(e)
        if start is not None and end is not None and start >= end:
            return "start >= end", f"start {start} s, end {end} s"
        if value(row, "audio") is None:
            return "missing audio file", "no audio path"
        path = self.audio_path(value(row, "audio"))
        if path not in audio_info:
            try:
                audio_info[path] = sf.info(str(path)).duration if path.is_file() else None
            except (sf.SoundFileError, RuntimeError, OSError) as e:
                audio_info[path] = f"{path}: {e}"
        duration = audio_info[path]
        if duration is None:
            base = (
                f"audio_root {self.audio_root}" if self.audio_root else f"the manifest's folder {self.root}"
            )
            rel = "" if Path(str(value(row, "audio"))).is_absolute() else f" (a path is relative to {base})"
            return "missing audio file", f"{path}{rel}"
        if isinstance(duration, str) or duration <= 0:
            return "unreadable audio file", duration if isinstance(duration, str) else f"{path}: no samples"
        start = start or 0.0
        if start >= duration:
            return "start >= end", f"start {start} s is past the end of {path} ({duration:.3f} s)"
        end = duration if end is None else min(end, duration)  # a rounding overshoot of the file's end
        # looked up last, so the unknown-word summary counts only rows that are otherwise usable
        words, vectors, unknown = self.word_vectors.lookup(tokens)
        if not words:
            return "no known word", " ".join(unknown[:MAX_REASONS_IN_ERROR])
        return Segment(
            video_id=path.stem,
            index=rowno,
            start=start,
            end=end,
            words=tuple(words),
            word_vectors=vectors,
            labels=labels,
            fold=fold,
            audio_path=path,
            text=str(text),
        )

    def iter_segments(self) -> Iterator[Segment]:
        """Yield the usable rows' segments in file order; ``self.skipped`` holds the report afterwards."""
        report = SkipReport("manifest reader", unit="row")
        kept = []
        audio_info = {}
        for rowno, row in self._rows:
            seg = self._segment(rowno, row, audio_info) if isinstance(row, dict) else ("malformed row", row)
            if isinstance(seg, Segment):
                kept.append(seg)
                yield seg
            else:
                report.add(seg[0], [f"row {rowno}"], seg[1])
        log.info("manifest reader: %d segment(s) kept from %s", len(kept), self.manifest)
        warn_shared_audio(kept, self.manifest)
        report.log(log)
        self.word_vectors.log_unknown(source=str(self.manifest))
        self.skipped = report
        if not kept:
            raise ValueError(
                f"{self.manifest}: no usable row among {len(self._rows)}; "
                f"{report.describe(MAX_REASONS_IN_ERROR)}"
            )

    def scan(self) -> tuple[list[Segment], SkipReport]:
        """Every usable segment, and the report of the rows skipped."""
        segments = list(self.iter_segments())
        assert self.skipped is not None
        return segments, self.skipped

    def _audio_paths(self) -> list[Path]:
        paths = (
            self.audio_path(a) for _, r in self._rows if isinstance(r, dict) and (a := value(r, "audio"))
        )
        return list(dict.fromkeys(paths))  # unique, in file order

    def video_ids(self) -> list[str]:
        """The stems of the audio files the rows name, unique, in file order."""
        return list(dict.fromkeys(p.stem for p in self._audio_paths()))

    def input_files(self) -> list[Path]:
        """The manifest, the word-vector text file, and the audio files that exist."""
        wv = [self.word_vectors.path] if self.word_vectors.path is not None else []
        return [self.manifest, *wv, *(p for p in self._audio_paths() if p.is_file())]

    def fingerprint(self) -> str:
        """sha256 hex of the manifest's content, the audio files' (path, size, mtime), the word vectors and
        the reader settings. Audio is only stat-ed; a missing file enters as missing, so adding it counts."""
        h = hashlib.sha256(self.manifest.read_bytes())
        for p in self._audio_paths():
            st = p.stat() if p.is_file() else None
            h.update(f"{p}\0{st.st_size if st else '-'}\0{st.st_mtime_ns if st else '-'}\n".encode())
        h.update(self.word_vectors.fingerprint().encode())
        h.update(json.dumps([self._emotions, self.split_column, str(self.audio_root)]).encode())
        return h.hexdigest()
