"""What a feature-cache build left out or remarked on: segments skipped by reason (with a few examples) and
segments kept with a note (cut short by the end of their audio, silent, channels that cancel)."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

log = logging.getLogger(__name__)

#: A cut that lies more than this past the end of its audio file (seconds; one 20 ms hop) is reported.
MISSING_TOLERANCE_S = 0.02
#: Remarks on kept segments (the audio_notes attribute).
NOTE_CUT_SHORT, NOTE_SILENT, NOTE_CANCEL = (
    "cut short by the end of its audio",
    "silent audio",
    "channels cancel",
)
#: Examples kept per skip reason or note.
MAX_EXAMPLES = 3


class ExtractionTally:
    """Segments skipped (by reason) and kept with a remark (by note) while features are extracted."""

    def __init__(self, skipped: dict | None = None, examples: dict | None = None):
        self.skipped: Counter = Counter(skipped or {})
        self.examples: dict[str, list[str]] = {k: list(v) for k, v in (examples or {}).items()}
        self.notes: Counter = Counter()
        self.note_examples: dict[str, list[str]] = {}

    def skip(self, reason: str, message: str) -> None:
        self.skipped[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < MAX_EXAMPLES:
            self.examples[reason].append(message)

    def note(self, kind: str, segment_id: str) -> None:
        self.notes[kind] += 1
        ex = self.note_examples.setdefault(kind, [])
        if len(ex) < MAX_EXAMPLES:
            ex.append(segment_id)

    def log(self, path: Path) -> None:
        for reason, n in self.skipped.items():
            log.warning(
                "%s: skipped %d segment(s): %s (e.g. %s)", path.name, n, reason, self.examples.get(reason)
            )
        for kind, n in self.notes.items():
            log.warning(
                "%s: %d segment(s) kept with %s (e.g. %s)", path.name, n, kind, self.note_examples[kind]
            )

    def attrs(self) -> dict:
        return {
            "skipped": dict(self.skipped),
            "skipped_examples": self.examples,
            "audio_notes": {"counts": dict(self.notes), "examples": self.note_examples},
        }
