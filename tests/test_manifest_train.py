"""`data=manifest` end to end: your own WAVs, transcripts and 4 emotions train, report bad rows, predict."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mosei_attn.inference import Predictor
from mosei_attn.train import train
from tests.conftest import TINY, compose_config

EMOTIONS = ["neutral", "happy", "sad", "angry"]  # not sorted: the order given must be kept
#: Words per emotion (each vector clusters near its emotion's axis) plus neutral filler words.
WORDS = {"neutral": "fine okay", "happy": "great joy", "sad": "tears alone", "angry": "furious hate"}
FILLER = "the day was really"
DIM = 8
SR = 16_000
PER_SPLIT = {"train": 3, "valid": 1, "test": 1}


def write_folder(root: Path) -> tuple[Path, Path, dict[int, str]]:
    """WAVs, a GloVe file and a manifest of good rows plus one bad row per kind; returns
    (manifest, glove, {bad row number: reason})."""
    rng = np.random.default_rng(0)
    vocab = FILLER.split() + " ".join(WORDS.values()).split()
    with open(root / "glove.txt", "w", encoding="utf-8") as f:
        for i, w in enumerate(vocab):
            v = rng.normal(0, 0.1, DIM) + np.eye(DIM)[i % DIM]
            f.write(w + " " + " ".join(f"{x:.5f}" for x in v) + "\n")
    (root / "wav").mkdir()
    rows = [["audio", "start", "end", "text", "emotion", "split"]]
    t = np.arange(SR) / SR
    for e, emo in enumerate(EMOTIONS):
        for split, n in PER_SPLIT.items():
            for k in range(n):
                name = f"wav/{emo}_{split}_{k}.wav"
                tone = 0.3 * np.sin(2 * np.pi * (150 + 100 * e) * t) + 0.01 * rng.normal(size=SR)
                sf.write(root / name, tone.astype(np.float32), SR)
                rows.append([name, "0.1", "0.9", f"{FILLER} {WORDS[emo]}", emo, split])
    (root / "wav" / "broken.wav").write_bytes(b"RIFF but not a wave file")
    good = root / "wav/neutral_train_0.wav"
    bad = [
        (["wav/missing.wav", "", "", "fine", "neutral", "train"], "missing audio file"),
        (["wav/broken.wav", "", "", "fine", "neutral", "train"], "unreadable audio file"),
        ([str(good), "", "", "   ", "neutral", "train"], "empty transcript"),
        ([str(good), "", "", "fine", "bored", "train"], "unknown label"),
    ]
    first_bad = len(rows) + 1  # CSV row numbers count the header as row 1
    rows += [r for r, _ in bad]
    with open(root / "clips.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return root / "clips.csv", root / "glove.txt", {first_bad + i: why for i, (_, why) in enumerate(bad)}


def test_manifest_with_good_and_bad_rows_trains_on_four_emotions(data_dir, tmp_path, caplog, capsys):
    manifest, glove, bad_rows = write_folder(tmp_path)
    tiny = [o for o in TINY if not o.startswith("data.write_corpus.")]  # a manifest has no corpus to write
    cfg = compose_config(
        "train",
        [
            *tiny,
            f"paths.data_dir={data_dir}",
            "data=manifest",
            f"data.corpus.manifest={manifest}",
            f"data.word_vectors.path={glove}",
            f"data.text.dim={DIM}",
            f"data.corpus.emotions=[{','.join(EMOTIONS)}]",
        ],
        tmp_path / "run",
    )
    with caplog.at_level(logging.INFO):
        metrics, objects = train(cfg)
    warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    for row, reason in bad_rows.items():
        assert f"row {row}" in warnings and reason in warnings, (row, reason)

    model, dm = objects["model"], objects["datamodule"]
    assert model.meta.emotion_names == tuple(EMOTIONS)
    assert [len(dm.dataset(s)) for s in ("train", "val", "test")] == [12, 4, 4]  # the good rows only
    batch = next(iter(dm.val_dataloader()))
    logits = model(batch).logits
    assert logits.shape == (4, len(EMOTIONS))
    saved = json.loads((objects["output_dir"] / "metrics.json").read_text())
    assert saved["test/emotion_names"] == EMOTIONS
    assert np.asarray(saved["test/confusion"]).shape == (4, 4)
    assert {f"val/f1_{e}" for e in EMOTIONS} <= set(metrics)  # logged under the emotion names
    table = capsys.readouterr().out
    assert all(e in table for e in EMOTIONS)

    # The checkpoint records the manifest's word vectors: predict embeds free text with them unasked.
    predictor = Predictor.from_checkpoint(
        objects["output_dir"] / "checkpoints" / "last.ckpt", cache_dir=tmp_path / "wv", device="cpu"
    )
    pred = predictor(tmp_path / "wav" / "sad_valid_0.wav", f"{FILLER}, {WORDS['sad']} zzyzx!", 0.1, 0.9)
    assert list(pred.to_dict()["probabilities"]) == EMOTIONS
    assert pred.unknown == ["zzyzx"]
    assert float(pred.probs.sum()) == pytest.approx(1.0, abs=1e-5)
    sad = EMOTIONS.index("sad")  # valid rows are in file order: one per emotion
    assert int(batch["target"][sad]) == sad
    with torch.no_grad():
        ref = model.cpu().eval().predict_step({k: v[sad : sad + 1] for k, v in batch.items()}, 0)["probs"][0]
    np.testing.assert_allclose(pred.probs, ref.numpy(), atol=1e-5)  # same file and cut: same features
