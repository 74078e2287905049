"""What a corpus gives the DataModule and the feature cache, whichever kind it is (MOSEI layout, manifest)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from mosei_attn.data.corpora.segment import Segment


class Corpus(Protocol):
    """A source of labelled segments.

    ``root``: the folder its relative paths start from. ``emotion_names``: the emotions, in label-column
    order after the first column. ``label_columns``: the names of each segment's ``labels`` columns.
    """

    root: Path

    @property
    def emotion_names(self) -> tuple[str, ...]: ...

    @property
    def label_columns(self) -> tuple[str, ...]: ...

    def iter_segments(self) -> Iterator[Segment]:
        """Usable segments, one at a time; bad ones are skipped and counted by reason."""
        ...

    def scan(self) -> tuple[list[Segment], Counter]:
        """Every usable segment, and the count of those skipped by reason (a ``Counter``)."""
        ...

    def video_ids(self) -> list[str]:
        """The recordings the corpus lists (MOSEI: video ids; a manifest: its audio files' stems), in order."""
        ...

    def input_files(self) -> list[Path]:
        """The files that exist and the segments depend on (what ``fingerprint`` stamps)."""
        ...

    def fingerprint(self) -> str:
        """A hex digest that changes when an input file or a reader setting does (the cache's key)."""
        ...
