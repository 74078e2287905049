"""Why corpus segments are left out: the reasons, and a counter of skipped segments with a few examples."""

from __future__ import annotations

import logging
from collections import Counter

log = logging.getLogger("mosei_attn.data.corpora.mosei")  # the reader's log, where users look for skips


#: Why a segment is left out. The reader finds the first group; the feature cache builder, which reads the
#: audio, the second. "malformed transcript line" counts lines (their segments keep their words, not a text).
SKIP_REASONS: tuple[str, ...] = (
    "no audio file", "no words", "zero length", "not in a fold", "unreadable csd entry",
    "label not a number", "negative emotion intensity", "malformed transcript line",
    "unreadable audio file", "audio sample rate too low", "starts past the end of its audio", "empty audio cut",
)  # fmt: skip


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
