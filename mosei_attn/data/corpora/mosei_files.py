"""The small text files of a MOSEI-layout folder: the folds JSON and the segmented transcripts."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mosei_attn.data.corpora.mosei_layout import FOLD_NAMES, TRANSCRIPT_SEP


# Folds ----------------------------------------------------------------------------------------------
def standard_folds_path() -> Path:
    """The SDK's standard folds, shipped in the package."""
    return Path(str(resources.files("mosei_attn") / "resources" / "standard_folds.json"))


def load_folds(path: str | os.PathLike | None = None) -> dict[str, str]:
    """Video id -> ``"train"``/``"valid"``/``"test"`` from a folds JSON file (None: the shipped standard
    folds)."""
    path = Path(path) if path is not None else standard_folds_path()
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
