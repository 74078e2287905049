"""How often the speech gate leaves a segment's stressed word out of eq. 1, per cue mode and per class.

    python benchmarks/gate_coverage.py [--cache data/cache/synthetic-<key>.h5] [--root data/synthetic]
                                       [--fold test]

No training: the feature cache's speech mask through the attention model's gate
(:func:`mosei_attn.models.attention.speech_positions`, the pooling of ``conf/model/attention.yaml``), against
the generator's cue truth (the stressed words' frames). A segment misses when no frame of its stressed word
lies in a covered time position (segments whose stressed word lies past the attended positions are not
counted). Beside it, the same mask asked for half of a position's frames, and the loudness rule the voice
activity detector replaced: a position is covered when its level (mean of its frames over frequency) is at
least the midpoint between the segment's quietest and loudest positions. ``--cache`` defaults to the newest
cache of the current format under ``data/cache``. The last line is one JSON object with every figure (percent
of segments).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import torch
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mosei_attn.data.cache.reader import FEATURE_CACHE_VERSION, FeatureCache, read_attrs  # noqa: E402
from mosei_attn.data.features.extractors import AudioFeatures  # noqa: E402
from mosei_attn.models.attention import speech_positions  # noqa: E402
from mosei_attn.models.blocks import attended_lengths, length_mask, pooled_size  # noqa: E402
from mosei_attn.synthetic.cue_truth import read_cue_truth  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def loudness_positions(spec: torch.Tensor, n_time: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """(B, size): the loudness rule, positions at least halfway from the quietest to the loudest level."""
    b = spec.shape[0]
    level = spec[..., : size * stride].float().mean(dim=1).view(b, size, stride).mean(dim=2)
    real = length_mask(n_time, size)
    lo = level.masked_fill(~real, math.inf).amin(dim=1, keepdim=True)
    hi = level.masked_fill(~real, -math.inf).amax(dim=1, keepdim=True)
    return real & (level >= lo + 0.5 * (hi - lo))


def half_positions(speech: torch.Tensor, n_time: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """(B, size): the gate had it asked for half of a position's frames to be speech, not any one."""
    frames = speech[:, : size * stride].view(speech.shape[0], size, stride)
    real = length_mask(n_time, size)
    gated = real & (frames.sum(dim=2) * 2 >= stride)
    return torch.where(gated.any(dim=1, keepdim=True), gated, real)


def newest_cache(folder: Path) -> Path:
    found = [
        p
        for p in folder.glob("synthetic-*.h5")
        if read_attrs(p).get("format_version") == FEATURE_CACHE_VERSION
    ]
    if not found:
        raise SystemExit(
            f"no feature cache of format {FEATURE_CACHE_VERSION} in {folder}: run python -m "
            "mosei_attn.prepare"
        )
    return max(found, key=lambda p: p.stat().st_mtime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--root", type=Path, default=Path("data/synthetic"))
    ap.add_argument("--fold", default="test")
    args = ap.parse_args()
    path = args.cache or newest_cache(Path("data/cache"))
    cache = FeatureCache(path)
    audio = AudioFeatures.from_dict(cache.attrs["features"]["audio"])
    truth = read_cue_truth(args.root)
    if truth is None:
        raise SystemExit(f"{args.root}: no cue truth (a synthetic corpus's SYNTHETIC_TRUTH.json)")
    model = OmegaConf.load(ROOT / "conf" / "model" / "attention.yaml")
    stride = model.pool**model.pool_blocks
    size = pooled_size(audio.max_frames, model.pool_blocks, model.pool)
    rows = [i for i, f in enumerate(cache.fold) if f == args.fold]
    arrays = truth.cache_arrays(cache, audio)
    mode, stress = arrays["mode"][rows], torch.from_numpy(arrays["stress"][rows])
    batch = cache.batch(rows)
    n_time = attended_lengths(torch.from_numpy(batch["spec_len"].astype("int64")), stride, size)
    speech = torch.from_numpy(batch["speech"])
    gates = {
        "speech mask": speech_positions(speech, n_time, size, stride),
        "speech mask, half the frames": half_positions(speech, n_time, size, stride),
        "loudness": loudness_positions(torch.from_numpy(batch["spec"]), n_time, size, stride),
    }
    frames = torch.nn.functional.pad(stress[:, : size * stride], (0, max(0, size * stride - stress.shape[1])))
    on_word = frames.view(len(rows), size, stride).any(dim=2) & length_mask(n_time, size)  # (N, size)
    counted = on_word.any(dim=1)
    classes = [cache.attrs["emotion_names"][int(i)] for i in batch["labels"][:, 1:].argmax(axis=1)]
    print(
        f"{path.name}: {int(counted.sum())} of {len(rows)} {args.fold} segments with their stressed word "
        "attended"
    )
    results = {}
    for name, covered in gates.items():
        missed = counted & ~(on_word & covered).any(dim=1)
        share = covered.sum(dim=1).float() / n_time.float()
        tally = defaultdict(lambda: [0, 0])
        for i in range(len(rows)):
            if counted[i]:
                for key in ("all", truth.modes[mode[i]], classes[i]):
                    tally[key][0] += int(missed[i])
                    tally[key][1] += 1
        row = {k: 100 * m / n for k, (m, n) in tally.items()}
        row["covered_share"] = 100 * float(share.mean())
        results[name] = row
        parts = ", ".join(f"{k} {v:.1f}%" for k, v in row.items() if k not in ("all", "covered_share"))
        print(f"\n{name}: stressed word on no covered position in {row['all']:.1f}% ({parts});")
        print(f"  eq. 1 covers {row['covered_share']:.1f}% of the attended positions on average")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
