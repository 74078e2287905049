"""A trained model ready for new recordings: features computed exactly as in training, words embedded with the
model's word vectors, probabilities and attention out (:class:`Predictor`, :class:`Prediction`)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mosei_attn.checkpoints.reading import load_checkpoint
from mosei_attn.data.features.audio import read_span
from mosei_attn.data.features.embeddings import WordVectors, tokenize
from mosei_attn.data.features.extractors import AudioFeatures, TextFeatures
from mosei_attn.reporting.figures import prediction_figure

log = logging.getLogger(__name__)

#: The feature cache stores spectrograms and word vectors as float16; a prediction rounds its features the
#: same way, so a clip gives exactly the input the model saw for it in training.
FEATURE_DTYPE = np.float16
GLOVE_URL = "https://nlp.stanford.edu/projects/glove/"
#: How many distinct words without a vector the terminal summary names (the JSON lists them all).
UNKNOWN_SHOWN = 10


def segment_features(
    wav: np.ndarray,
    sr: int,
    vectors: np.ndarray,
    audio: AudioFeatures,
    text: TextFeatures,
    source: str | None = None,
) -> dict[str, np.ndarray]:
    """One segment's model inputs as the feature cache holds them: ``spec`` (F, T), ``spec_len``, ``speech``
    (T,) bool, ``words`` (L, D), ``word_len``, from ``wav`` (samples[, channels]) at ``sr`` Hz and word
    ``vectors`` (n, D): the cache builder's :meth:`AudioFeatures.extract`."""
    spec, spec_len, speech = audio.extract(wav, sr, source=source)
    words, word_len = text.compute(vectors, source=source)
    return {
        "spec": spec.astype(FEATURE_DTYPE),
        "spec_len": np.asarray(spec_len),
        "speech": speech,
        "words": words.astype(FEATURE_DTYPE),
        "word_len": np.asarray(word_len),
    }


def to_batch(item: dict[str, np.ndarray], device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """A batch of one, shaped as the DataModule's: spec (1, 1, F, T), speech (1, T), words (1, L, D), lengths
    (1,)."""
    return {
        "spec": torch.from_numpy(item["spec"].astype(np.float32))[None, None].to(device),
        "spec_len": torch.tensor([int(item["spec_len"])], device=device),
        "speech": torch.from_numpy(np.asarray(item["speech"], dtype=bool))[None].to(device),
        "words": torch.from_numpy(item["words"].astype(np.float32))[None].to(device),
        "word_len": torch.tensor([int(item["word_len"])], device=device),
    }


@dataclass
class Prediction:
    """One clip's emotion probabilities (C,) (softmax; per-emotion sigmoid when multilabel), the words used
    and those without a vector (each occurrence, in order), the model's input batch, its attention matrix
    (m, n) and the weight it put on each frame (T,) (both None: shallow)."""

    probs: np.ndarray
    names: tuple[str, ...]
    multilabel: bool
    words: list[str]
    unknown: list[str]
    batch: dict[str, torch.Tensor]
    attention: np.ndarray | None
    seconds: float
    weights: np.ndarray | None = None

    @property
    def unknown_unique(self) -> list[str]:
        """The words without a vector, each once, in order of first appearance."""
        return list(dict.fromkeys(self.unknown))

    @property
    def predicted(self) -> str:
        return self.names[int(self.probs.argmax())]

    def to_dict(self, threshold: float = 0.5) -> dict[str, Any]:
        d = {
            "probabilities": {n: float(p) for n, p in zip(self.names, self.probs, strict=True)},
            "predicted": self.predicted,
            "multilabel": self.multilabel,
            "words": self.words,
            "unknown_words": self.unknown_unique,
            "words_used": int(self.batch["word_len"][0]),
            "audio_seconds": self.seconds,
            "frames_used": int(self.batch["spec_len"][0]),
        }
        if self.multilabel:  # every emotion judged present, not only the likeliest
            d["present"] = [n for n, p in zip(self.names, self.probs, strict=True) if p >= threshold]
        return d

    def describe(self, source: str = "", bar_width: int = 30) -> str:
        """The probabilities as a small text chart, for the terminal."""
        total = len(self.words) + len(self.unknown)
        unique = self.unknown_unique
        more = len(unique) - UNKNOWN_SHOWN
        unk = f"; without a vector: {', '.join(map(repr, unique[:UNKNOWN_SHOWN]))}" if unique else ""
        unk += f" and {more} more" if more > 0 else ""
        lines = [
            f"{source} ({self.seconds:.2f} s of audio; {len(self.words)} of {total} words have a vector{unk})"
        ]
        width = max(map(len, self.names))
        for name, p in zip(self.names, self.probs, strict=True):
            lines.append(f"  {name:<{width}}  {p:.3f}  {'#' * round(float(p) * bar_width)}")
        return "\n".join([*lines, f"predicted: {self.predicted}"])


def load_word_vectors(
    meta_vectors: dict[str, Any],
    dim: int,
    embeddings: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    source: str = "the checkpoint",
) -> WordVectors:
    """The word vectors to embed free text with: ``embeddings`` if given, else the GloVe text file the
    model's metadata (``meta_vectors``) records; its binary form is cached in ``cache_dir``."""
    recorded, name = meta_vectors.get("path"), meta_vectors.get("name")
    path = embeddings or recorded
    how = f"give embeddings=/path/to/{name or 'vectors'}.txt, a GloVe-format text file of {dim}-d vectors"
    if name and str(name).startswith("glove.840B"):
        how += f" (GloVe 840B 300-d, glove.840B.300d.zip from {GLOVE_URL})"
    if not path:
        raise ValueError(f"{source} records no word-vector file to embed free text with: {how}")
    path = Path(path)
    if not path.is_file():
        where = "given as embeddings=" if embeddings else f"recorded in {source}"
        raise FileNotFoundError(f"{path}: word-vector file ({where}) not found; {how}")
    if embeddings and name and Path(embeddings).stem != name:
        log.warning("the model was trained with %s vectors; embedding words with %s instead", name, path.name)
    return WordVectors.load(path, dim=dim, cache_dir=cache_dir)


class Predictor:
    """A trained model with its feature settings and word vectors: ``predictor(audio_path, text)``."""

    def __init__(self, model: Any, vectors: WordVectors, device: str = "cpu"):
        self.model = model.eval().to(device)
        self.vectors = vectors
        self.device = device
        meta = model.meta
        if "audio" not in meta.features or "text" not in meta.features:
            raise ValueError("the model's metadata holds no feature settings: it cannot compute its input")
        self.audio = AudioFeatures.from_dict(dict(meta.features["audio"]))
        self.text = TextFeatures.from_dict(dict(meta.features["text"]))
        self.names = tuple(meta.emotion_names)
        self.multilabel = meta.multilabel
        #: The longest audio the model sees (seconds); longer clips are cropped, as in training.
        self.max_seconds = self.audio.max_frames * self.audio.hop_length / self.audio.sample_rate

    @classmethod
    def from_checkpoint(
        cls,
        ckpt_path: str | os.PathLike,
        embeddings: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        device: str = "auto",
    ) -> Predictor:
        """A checkpoint written by ``mosei_attn.train`` and its word vectors (see ``load_word_vectors``)."""
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model, _ = load_checkpoint(ckpt_path, map_location=device)
        text = TextFeatures.from_dict(dict(model.meta.features.get("text", {})))
        vectors = load_word_vectors(model.meta.word_vectors, text.dim, embeddings, cache_dir, str(ckpt_path))
        return cls(model, vectors, device)

    def settings(self) -> dict[str, Any]:
        """What the prediction used: feature settings and the word-vector file."""
        wv = {"path": str(self.vectors.path) if self.vectors.path else None, "dim": self.vectors.dim}
        return {"audio": self.audio.to_dict(), "text": self.text.to_dict(), "word_vectors": wv}

    @torch.no_grad()
    def __call__(
        self, audio_path: str | os.PathLike, text: str, start: float | None = None, end: float | None = None
    ) -> Prediction:
        """Predict from ``audio_path`` in [start, end) seconds (None: the whole file) and its transcript.
        Only the first ``AudioFeatures.seconds_seen`` seconds of the cut are read: what the model sees (so the
        spectrogram's dB reference is the loudest bin of that part)."""
        span = read_span(
            audio_path,
            start,
            end,
            min_sample_rate=self.audio.sample_rate,
            max_seconds=self.audio.seconds_seen,
        )
        words, vectors, unknown = self.vectors.lookup(tokenize(text))
        item = segment_features(
            span.samples, span.sample_rate, vectors, self.audio, self.text, str(audio_path)
        )
        seconds = _cut_seconds(audio_path, start, end)
        for remark in self._remarks(item, words, seconds, span.channels_cancel):
            log.warning("%s: %s", audio_path, remark)
        batch = to_batch(item, self.device)
        out = self.model.predict_step(batch, 0)
        att, weights = out["attention"], out["weights"]
        return Prediction(
            out["probs"][0].cpu().numpy(),
            self.names,
            self.multilabel,
            words,
            unknown,
            batch,
            None if att is None else att[0].float().cpu().numpy(),
            seconds,
            None if weights is None else weights[0].float().cpu().numpy(),
        )

    def _remarks(
        self, item: dict[str, np.ndarray], words: list[str], seconds: float, cancel: bool
    ) -> list[str]:
        """What a user should know about a clip's input before trusting its prediction, one line each."""
        out = []
        if cancel:
            out.append("its channels cancel when averaged: the loudest channel alone was used")
        window = self.audio.win_length / self.audio.sample_rate
        silent = not item["spec"].any()
        if silent and not words:
            out.append(
                "silent audio and no word with a vector: nothing to predict from, the probabilities show "
                "only the model's bias"
            )
            return out
        if seconds < window:
            out.append(
                f"{seconds * 1000:.0f} ms of audio, shorter than one {window * 1000:.0f} ms analysis window: "
                "no full spectrogram frame; the prediction rests on the words"
            )
        elif silent:
            out.append("silent audio (an all-zero spectrogram): the prediction rests on the words")
        if seconds > self.max_seconds:
            out.append(
                f"{seconds:.1f} s long; the model sees its first {self.max_seconds:.1f} s: pick the part "
                "with start=/end="
            )
        if len(words) > self.text.max_words:
            out.append(f"{len(words)} words; the model reads the first {self.text.max_words}")
        if not words:
            out.append("no word with a vector: the prediction rests on the audio alone")
        return out

    def figure(self, pred: Prediction, path: str | os.PathLike, title: str = "") -> Path:
        """Spectrogram, attention over time and against the words (figure 2), and the probabilities."""
        return prediction_figure(
            path,
            pred.batch["spec"][0, 0].cpu().numpy(),
            pred.attention,
            pred.words[: self.text.max_words],
            word_len=int(pred.batch["word_len"][0]),
            max_words=self.text.max_words,
            probs=pred.probs,
            names=self.names,
            spec_len=int(pred.batch["spec_len"][0]),
            hop_seconds=self.audio.hop_length / self.audio.sample_rate,
            max_hz=self.audio.sample_rate / 2,
            multilabel=self.multilabel,
            title=title,
            weights=pred.weights,
        )


def _cut_seconds(path: str | os.PathLike, start: float | None, end: float | None) -> float:
    """Length of the cut [start, end) of ``path`` in seconds, from the file's header (nothing is read)."""
    import soundfile as sf

    total = sf.info(str(path)).duration
    first = max(0.0, start or 0.0)
    return max(0.0, min(total, end if end is not None else total) - first)
