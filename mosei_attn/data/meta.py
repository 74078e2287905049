"""The facts a model needs from its data, saved in every checkpoint so it loads without the dataset."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class DataMeta:
    """What the data tells the model.

    Attributes:
        emotion_names: class names in output order.
        label_rule: how targets were derived (``argmax``, ``plurality``, ``majority``, ``multilabel``).
        spec_shape: spectrogram (frequency bins, time frames) fed to the model.
        text_shape: word matrix (max words, embedding dim) fed to the model.
        class_counts: training-split count per class (positives per emotion for multilabel).
        features: the feature settings the cache was built with (audio + text), so inference
            computes identical features.
        word_vectors: where the word vectors came from (e.g. ``{"kind": "glove", "path": ...}``).
    """

    emotion_names: tuple[str, ...]
    label_rule: str
    spec_shape: tuple[int, int]
    text_shape: tuple[int, int]
    class_counts: tuple[int, ...] = ()
    features: dict[str, Any] = field(default_factory=dict)
    word_vectors: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.emotion_names)

    @property
    def multilabel(self) -> bool:
        return self.label_rule == "multilabel"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("emotion_names", "spec_shape", "text_shape", "class_counts"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataMeta:
        return cls(
            emotion_names=tuple(d["emotion_names"]),
            label_rule=str(d["label_rule"]),
            spec_shape=tuple(int(x) for x in d["spec_shape"]),
            text_shape=tuple(int(x) for x in d["text_shape"]),
            class_counts=tuple(int(x) for x in d.get("class_counts", ())),
            features=dict(d.get("features", {})),
            word_vectors=dict(d.get("word_vectors", {})),
        )
