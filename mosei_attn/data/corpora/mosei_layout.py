"""The CMU-MOSEI on-disk layout: the names the reader looks for and the synthetic writer writes.

A corpus folder holds the three csd files, ``Raw/Audio/Full/WAV_16000/<video>.wav`` and
``Raw/Transcript/Segmented/Combined/<video>.txt`` (lines ``video___clip___start___end___text``); the whole
layout as the reader expects it: docs/data.md.
"""

from __future__ import annotations

from pathlib import Path

LABELS_FILE = "CMU_MOSEI_Labels.csd"
VECTORS_FILE = "CMU_MOSEI_TimestampedWordVectors.csd"
WORDS_FILE = "CMU_MOSEI_TimestampedWords.csd"
AUDIO_DIR = Path("Raw/Audio/Full/WAV_16000")
TRANSCRIPT_DIR = Path("Raw/Transcript/Segmented/Combined")
#: Fold names of a folds JSON file (the SDK's standard folds use the same).
FOLD_NAMES: tuple[str, ...] = ("train", "valid", "test")
#: The word rows that mark a silence in the words csd.
SILENCE_TOKEN = "sp"
#: Field separator of a segmented transcript line.
TRANSCRIPT_SEP = "___"
