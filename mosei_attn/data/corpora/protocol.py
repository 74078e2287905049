"""What a corpus gives the DataModule and the feature cache, whichever kind it is (MOSEI layout, manifest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Protocol

from mosei_attn.data.corpora.segment import Segment
from mosei_attn.data.skip_report import SkipReport


class Corpus(Protocol):
    """A source of labelled segments.

    ``root``: the folder its relative paths start from. ``emotion_names``: the emotions, in label-column
    order after the first column. ``label_columns``: the names of each segment's ``labels`` columns.
    """

    root: Path
    #: The constructor arguments that name where its input files are (a folder, a file): a resumed run may
    #: set them differently (the same data moved); every other argument is part of what a run trains on.
    LOCATIONS: ClassVar[tuple[str, ...]]

    @property
    def emotion_names(self) -> tuple[str, ...]: ...

    @property
    def label_columns(self) -> tuple[str, ...]: ...

    def iter_segments(self) -> Iterator[Segment]:
        """Usable segments, one at a time; bad ones are skipped and counted by reason."""
        ...

    def scan(self) -> tuple[list[Segment], SkipReport]:
        """Every usable segment, and the report of those skipped (counts by reason and examples, which the
        feature cache stores and logs)."""
        ...

    def video_ids(self) -> list[str]:
        """The recordings the corpus lists (MOSEI: video ids; a manifest: its audio files' stems), in
        order."""
        ...

    def input_files(self) -> list[Path]:
        """The files that exist and the segments depend on (what ``fingerprint`` stamps)."""
        ...

    def fingerprint(self) -> str:
        """A hex digest that changes when an input file or a reader setting does (the cache's key)."""
        ...
