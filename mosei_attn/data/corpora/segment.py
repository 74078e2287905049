"""One labelled segment of a corpus, as the corpus reader yields it and the feature builder consumes it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Segment:
    """A labelled span of one video.

    Attributes:
        video_id: always a string (``"81406"`` stays a string).
        index: row of this segment in the video's entry of the labels csd (mmsdk's ``video[index]``).
        start, end: seconds within the full video; ``start`` is clamped to >= 0.
        words: the words inside the span, ``sp`` silence tokens dropped.
        word_vectors: (len(words), D) float32, one row per word.
        labels: (7,) float32 raw label columns in ``LABEL_COLUMNS`` order.
        fold: ``"train"``, ``"valid"`` or ``"test"``.
        audio_path: the full-video WAV the span is cut from.
        text: the segmented transcript's text for this span, or None when no line matches.
    """

    video_id: str
    index: int
    start: float
    end: float
    words: tuple[str, ...]
    word_vectors: np.ndarray
    labels: np.ndarray
    fold: str
    audio_path: Path
    text: str | None = None

    @property
    def segment_id(self) -> str:
        return f"{self.video_id}[{self.index}]"

    @property
    def duration(self) -> float:
        return self.end - self.start
