"""What a synthetic corpus's generator knows and MOSEI does not: each segment's cue mode and stressed words.

The generator writes it beside the corpus, in a file of its own (:data:`TRUTH_FILE`), so the MOSEI
files stay exactly as real MOSEI has them::

    {"modes": ["both", "prosody_only", "text_only", "distractor", "two_stressed"],
     "videos": {"<video id>": [{"mode": "both", "stressed": [[start, end], ...]},
                               {"mode": "two_stressed", "stressed": [[start, end]], "rival": [[start, end]]},
                               ...]}}

one entry per row of the video's labels (the segment ``video[index]``), spans in seconds of the full video;
``rival`` (two_stressed segments only) is the neutral word stressed alike with another emotion's prosody.
Real MOSEI has no such file: the cue metrics are then left out, nothing else changes.

:class:`CueTruthProvider` is how the data pipeline meets it (``data.extras`` in conf/data/synthetic.yaml):
the DataModule asks it for per-row arrays (``mode``, ``stress``, ``rival``) that ride along in the batches
as generic extras, for the callback that computes the cue metrics
(:class:`~mosei_attn.synthetic.cue_metrics.CueMetricsCallback`) and for a figure's highlighted span.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mosei_attn.data.dataset import extra_fields

#: Beside a synthetic corpus only: each segment's cue mode and stressed-word spans (not a MOSEI file).
TRUTH_FILE = "SYNTHETIC_TRUTH.json"


@dataclass(frozen=True)
class CueTruth:
    """Cue modes (names, in index order) and, per video, one ``{"mode", "stressed"}`` entry per label row."""

    path: Path
    modes: tuple[str, ...]
    videos: dict[str, list[dict[str, Any]]]

    def arrays(
        self, segment_ids: list[str], starts: np.ndarray, hop_s: float, n_frames: int, center_s: float = 0.0
    ) -> dict[str, np.ndarray]:
        """Per segment ``"video[index]"`` starting at ``starts`` (s): ``mode``, its cue-mode index (N,) int8,
        -1 where the truth has no entry; ``stress``, its stressed frames (N, n_frames) bool: frame k, centred
        at ``start + center_s + k * hop_s``, is stressed when its centre lies inside a stressed word; and
        ``rival``, the frames of its rival word the same way (none outside two_stressed)."""
        mode = np.full(len(segment_ids), -1, dtype=np.int8)
        frames = {key: np.zeros((len(segment_ids), n_frames), dtype=bool) for key in ("stressed", "rival")}
        for i, seg in enumerate(segment_ids):
            entry = self.entry(seg)[1]
            if entry is None:
                continue
            mode[i] = self.modes.index(entry["mode"])
            for key, marked in frames.items():
                for begin, end in entry.get(key, ()):
                    first, last = (math.ceil((t - starts[i] - center_s) / hop_s) for t in (begin, end))
                    marked[i, max(first, 0) : max(min(last, n_frames), 0)] = True
        return {"mode": mode, "stress": frames["stressed"], "rival": frames["rival"]}

    def entry(self, segment_id: str) -> tuple[str, dict[str, Any] | None]:
        """The video of a segment ``"video[index]"`` and its truth entry; None where the truth has none."""
        video, _, index = segment_id.rpartition("[")
        entries, index = self.videos.get(video, []), index.rstrip("]")
        k = int(index) if index.isdigit() else -1
        return video, entries[k] if 0 <= k < len(entries) else None

    def cache_arrays(self, cache: Any, audio: Any) -> dict[str, np.ndarray]:
        """``mode``, ``stress`` and ``rival`` of every row of a feature cache (:class:`FeatureCache`) built
        with the spectrogram settings ``audio`` (:class:`AudioFeatures`), whose frames are centred: frame k
        is centred on the segment's start + k hops."""
        return self.arrays(
            [str(s) for s in cache.segment_id],
            cache.column("start"),
            audio.hop_length / audio.sample_rate,
            audio.max_frames,
        )


def read_cue_truth(root: str | os.PathLike | None) -> CueTruth | None:
    """The cue truth beside the corpus at ``root``, or None where there is none (real MOSEI)."""
    if root is None:
        return None
    path = Path(root) / TRUTH_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        modes, videos = tuple(raw["modes"]), raw["videos"]
        for video, entries in videos.items():
            for entry in entries:
                spans = [*entry["stressed"], *entry.get("rival", ())]
                if entry["mode"] not in modes or any(len(span) != 2 for span in spans):
                    raise ValueError(f"video {video}: bad entry {entry}")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: unreadable cue truth ({e}); delete the corpus folder to rebuild it") from e
    return CueTruth(path, modes, videos)


class CueTruthProvider:
    """The cue truth of the corpus at ``root`` as the DataModule's extras provider (see
    :class:`~mosei_attn.data.datamodule.MoseiDataModule`): per-row arrays, the callback that reads them
    from the batches, and a figure's annotation. A corpus without truth gives no arrays and no callback."""

    def __init__(self, root: str | os.PathLike | None) -> None:
        self.truth = read_cue_truth(root)

    def arrays(self, cache: Any, audio: Any) -> dict[str, np.ndarray]:
        """``mode`` (N,), ``stress`` and ``rival`` (N, T) of every cache row; {} without truth."""
        return self.truth.cache_arrays(cache, audio) if self.truth else {}

    def callbacks(self) -> list[Any]:
        """The cue-metric callback, when the corpus has truth."""
        from mosei_attn.synthetic.cue_metrics import CueMetricsCallback

        return [CueMetricsCallback(self.truth.modes)] if self.truth else []

    def annotate(self, item: dict[str, Any]) -> tuple[str, np.ndarray | None, str]:
        """For one dataset item: a tag for its figure's title (its cue mode), the frames to highlight (T,)
        (its stressed words) and their legend label."""
        extra = extra_fields(item)
        if not self.truth or "mode" not in extra or int(extra["mode"]) < 0:
            return "", None, ""
        return self.truth.modes[int(extra["mode"])], np.asarray(extra["stress"]), "stressed word"
