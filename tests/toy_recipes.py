"""A third model and a second kind of corpus, written as docs/architecture.md's recipes say: a network and
its ``EmotionModule``, and a class that follows the ``Corpus`` protocol. tests/test_recipes.py picks them
through Hydra configs alone."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import nn

from mosei_attn.data.corpora.segment import Segment
from mosei_attn.data.skip_report import SkipReport
from mosei_attn.models.base import EmotionModule
from mosei_attn.models.output import NetOutput

#: The toy corpus's emotions, its folds (clip i is in FOLDS[i % 4]) and the sample rate of its clips.
TOY_EMOTIONS = ("calm", "loud")
FOLDS = ("train", "train", "valid", "test")
SAMPLE_RATE = 16000


class ToyNet(nn.Module):
    """Mean-pooled spectrogram and word vectors, concatenated, through one linear layer."""

    def __init__(
        self, spec_shape: tuple[int, int], text_shape: tuple[int, int], num_classes: int, hidden: int
    ):
        super().__init__()
        self.head = nn.Sequential(nn.Linear(spec_shape[0] + text_shape[1], hidden), nn.ReLU())
        self.out = nn.Linear(hidden, num_classes)

    def forward(
        self, spec: torch.Tensor, spec_len: torch.Tensor, words: torch.Tensor, word_len: torch.Tensor
    ) -> NetOutput:
        speech = spec[:, 0].sum(-1) / spec_len.clamp(min=1)[:, None]  # (B, F): mean over the real frames
        text = words.sum(1) / word_len.clamp(min=1)[:, None]  # (B, D)
        return NetOutput(self.out(self.head(torch.cat([speech, text], dim=1))))


class ToyModule(EmotionModule):
    """The LightningModule of :class:`ToyNet` (everything else is the shared training logic)."""

    net_class = ToyNet


class ToyCorpus:
    """``n_clips`` one-second clips written under ``root`` on first use: quiet noise is ``calm``, loud noise
    ``loud``; each says two words with random vectors of ``word_dim``. Nothing is ever skipped."""

    LOCATIONS = ("root",)

    def __init__(self, root: str | Path, word_dim: int, n_clips: int = 16):
        self.root = Path(root)
        self.word_dim = word_dim
        self.n_clips = n_clips
        rng = np.random.default_rng(0)
        self.root.mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(self.input_files()):
            if not path.exists():
                gain = 0.5 if i % 2 else 0.01
                sf.write(path, (gain * rng.standard_normal(SAMPLE_RATE)).astype(np.float32), SAMPLE_RATE)
        self.vectors = rng.standard_normal((n_clips, 2, word_dim)).astype(np.float32)

    @property
    def emotion_names(self) -> tuple[str, ...]:
        return TOY_EMOTIONS

    @property
    def label_columns(self) -> tuple[str, ...]:
        return ("sentiment", *TOY_EMOTIONS)

    def iter_segments(self) -> Iterator[Segment]:
        for i, path in enumerate(self.input_files()):
            labels = np.array([0.0, 1.0 - i % 2, float(i % 2)], dtype=np.float32)
            yield Segment(
                video_id=path.stem,
                index=0,
                start=0.0,
                end=1.0,
                words=("a", "b"),
                word_vectors=self.vectors[i],
                labels=labels,
                fold=FOLDS[i % len(FOLDS)],
                audio_path=path,
                text="a b",
            )

    def scan(self) -> tuple[list[Segment], SkipReport]:
        return list(self.iter_segments()), SkipReport("toy reader")

    def video_ids(self) -> list[str]:
        return [p.stem for p in self.input_files()]

    def input_files(self) -> list[Path]:
        return [self.root / f"clip{i:02d}.wav" for i in range(self.n_clips)]

    def fingerprint(self) -> str:
        return hashlib.sha256(f"toy {self.n_clips} {self.word_dim}".encode()).hexdigest()
