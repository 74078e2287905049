"""What a feature-cache build reports besides the features: segments skipped by reason (the reader's, and
those whose audio could not be read) and segments kept with a note (cut short by the end of their audio,
silent, channels that cancel), both as a :class:`~mosei_attn.data.skip_report.SkipReport`."""

from __future__ import annotations

from typing import Any

from mosei_attn.data.skip_report import SKIP_REASONS, SkipReport

#: A cut that lies more than this past the end of its audio file (seconds; one 20 ms hop) is reported.
MISSING_TOLERANCE_S = 0.02
#: Remarks on kept segments (the audio_notes attribute).
NOTE_CUT_SHORT, NOTE_SILENT, NOTE_CANCEL = (
    "cut short by the end of its audio",
    "silent audio",
    "channels cancel",
)
NOTE_REASONS = (NOTE_CUT_SHORT, NOTE_SILENT, NOTE_CANCEL)


def extraction_reports(cache_name: str, reader: SkipReport | None) -> tuple[SkipReport, SkipReport]:
    """The skip report of a cache build (continuing the reader's ``reader``) and its report of kept segments
    with a note; both log under the cache file's name."""
    counts, examples = (dict(reader), reader.example_dict) if reader is not None else (None, None)
    skipped = SkipReport(cache_name, reasons=SKIP_REASONS, counts=counts, examples=examples)
    notes = SkipReport(cache_name, reasons=NOTE_REASONS, kept=True)
    return skipped, notes


def extraction_attrs(skipped: SkipReport, notes: SkipReport) -> dict[str, Any]:
    """The cache attributes of the two reports: skipped, skipped_examples, audio_notes."""
    return {**skipped.attrs(), "audio_notes": {"counts": dict(notes), "examples": notes.example_dict}}


def stored_reports(cache_name: str, attrs: dict[str, Any]) -> tuple[SkipReport, SkipReport]:
    """The two reports of a cache's build, from its attributes (the inverse of :func:`extraction_attrs`):
    a reused cache logs them as its build did."""
    notes = attrs.get("audio_notes") or {}
    skipped = SkipReport(
        cache_name, reasons=SKIP_REASONS, counts=attrs.get("skipped"), examples=attrs.get("skipped_examples")
    )
    kept = SkipReport(
        cache_name,
        reasons=NOTE_REASONS,
        kept=True,
        counts=notes.get("counts"),
        examples=notes.get("examples"),
    )
    return skipped, kept
