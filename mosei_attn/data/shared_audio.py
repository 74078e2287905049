"""Audio that more than one split uses: the same file, or files with the same bytes, in train and test
inflate the test figures. A manifest's rows are checked when it is read (a warning, not an error: several
segments of one recording in one split are common, and a user may mean it)."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from mosei_attn.data.corpora.segment import Segment

log = logging.getLogger(__name__)

#: How many shared recordings a warning names.
MAX_NAMED = 5


def _content_key(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()  # in blocks, not the whole file in memory


def shared_audio(segments: Iterable[Segment]) -> list[tuple[list[Path], list[str]]]:
    """(files, folds) of each recording used by segments of more than one fold: one file, or files with
    identical bytes (only files of equal size that more than one fold uses between them are read)."""
    folds: dict[Path, set[str]] = defaultdict(set)
    for seg in segments:
        folds[Path(seg.audio_path)].add(seg.fold)
    by_size: dict[int, list[Path]] = defaultdict(list)
    for path in folds:
        if path.is_file():
            by_size[path.stat().st_size].append(path)
    groups: dict[str, list[Path]] = {}
    for paths in by_size.values():
        compare = len(paths) > 1 and len(set().union(*(folds[p] for p in paths))) > 1
        for path in paths:
            key = _content_key(path) if compare else str(path)
            groups.setdefault(key, []).append(path)
    out = []
    for paths in groups.values():
        used = sorted(set().union(*(folds[p] for p in paths)))
        if len(used) > 1:
            out.append((paths, used))
    return out


def warn_shared_audio(segments: Iterable[Segment], source: str | Path) -> None:
    """Log a warning naming the recordings that more than one split of ``source`` uses."""
    shared = shared_audio(segments)
    if not shared:
        return
    named = "; ".join(
        f"{' = '.join(p.name for p in paths)} in {', '.join(folds)}" for paths, folds in shared[:MAX_NAMED]
    )
    log.warning(
        "%s: the same audio in more than one split (%d recording(s)): %s%s. Segments of one recording in the "
        "training and the test split make the test figures look better than they are",
        source,
        len(shared),
        named,
        "; ..." if len(shared) > MAX_NAMED else "",
    )
