"""What a reader left out, counted by reason with a few examples: one report for the MOSEI reader (segments),
the manifest reader (rows) and the feature-cache builder (segments whose audio failed, and segments kept
with a remark)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


#: Audio with NaN or infinite samples: the reason the audio reader gives, so that a build counts it.
NONFINITE_AUDIO = "NaN or infinite audio samples"
#: Why a segment is left out. The reader finds the first group; the feature cache builder, which reads the
#: audio, the second. "malformed transcript line" counts lines (their segments keep their words, not a text).
SKIP_REASONS: tuple[str, ...] = (
    "no audio file",
    "no words",
    "zero length",
    "not in a fold",
    "unreadable csd entry",
    "label not a number",
    "negative emotion intensity",
    "malformed transcript line",
    "unreadable audio file",
    "audio sample rate too low",
    "starts past the end of its audio",
    "empty audio cut",
    NONFINITE_AUDIO,
)
#: Examples kept per reason.
MAX_EXAMPLES = 3


class SkipReport(Counter):
    """Items counted by reason, with the first few examples of each; ``items`` lists every
    ``(item, reason, detail)`` added, in order.

    ``source``: who reports (``corpus reader``, ``manifest reader``, a cache file's name), the start of each
    log line. ``unit``: what is counted (``segment``, ``row``). ``reasons``: the reasons allowed, in the order
    they are logged (None: any, in the order first seen). ``kept``: the items were kept with a remark (the
    reason), not left out. ``counts`` and ``examples`` start the report from a stored one (a cache's
    attributes).
    """

    def __init__(
        self,
        source: str,
        unit: str = "segment",
        reasons: Sequence[str] | None = None,
        kept: bool = False,
        counts: dict[str, int] | None = None,
        examples: dict[str, list[str]] | None = None,
        max_examples: int = MAX_EXAMPLES,
    ):
        super().__init__(counts or {})
        self.source = source
        self.unit = unit
        self.kept = kept
        self.max_examples = max_examples
        self.reasons = tuple(reasons) if reasons is not None else None
        self.examples: dict[str, list[str]] = {k: list(v) for k, v in (examples or {}).items()}
        self.entries: list[tuple[str, str, str]] = []  # not `items`: Counter's own methods call self.items()

    def add(self, reason: str, items: Sequence[str], detail: str = "") -> None:
        """Count ``items`` (ids or ``row N``) under ``reason``; ``detail`` says more about them (the example
        reads ``item (detail)``)."""
        if self.reasons is not None and reason not in self.reasons:
            raise ValueError(f"unknown skip reason {reason!r}; expected one of {self.reasons}")
        if not items:
            return
        self[reason] += len(items)
        self.entries += [(item, reason, detail) for item in items]
        ex = self.examples.setdefault(reason, [])
        ex.extend(i + (f" ({detail})" if detail else "") for i in items[: self.max_examples - len(ex)])

    @property
    def example_dict(self) -> dict[str, list[str]]:
        """A few examples per reason counted, for the cache's attributes."""
        return {k: list(v) for k, v in self.examples.items() if self[k]}

    def attrs(self, prefix: str = "skipped") -> dict[str, Any]:
        """The report as cache attributes: ``<prefix>`` (counts by reason) and ``<prefix>_examples``."""
        return {prefix: dict(self), f"{prefix}_examples": self.example_dict}

    def describe(self, limit: int) -> str:
        """The first ``limit`` items as ``item: reason (detail)``."""
        return "; ".join(f"{i}: {why}" + (f" ({d})" if d else "") for i, why, d in self.entries[:limit])

    def log(self, logger: logging.Logger = log) -> None:
        """One warning per reason, in ``reasons`` order; an info line when nothing was skipped."""
        if not self and not self.kept:
            logger.info("%s: no %ss skipped", self.source, self.unit)
        known = self.reasons or ()
        order = (*known, *(k for k in self if k not in known))
        for reason in order:
            if self[reason]:
                ex = "; ".join(self.examples.get(reason, []))
                msg = (
                    "%s: %d %s(s) kept with %s (e.g. %s)"
                    if self.kept
                    else "%s: skipped %d %s(s): %s (e.g. %s)"
                )
                logger.warning(msg, self.source, self[reason], self.unit, reason, ex)
