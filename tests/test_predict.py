"""Predict on your own audio: other rates and stereo match the DataModule path; unknown words; JSON, PNG and
CSV outputs; bad manifest rows; the word-vector errors; free text on the command line."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from mosei_attn.data.corpora.mosei_layout import AUDIO_DIR
from mosei_attn.data.features.audio import read_audio
from mosei_attn.inference import Prediction, Predictor
from mosei_attn.predict import predict, predict_manifest, quote_free_text
from mosei_attn.train import train
from tests.conftest import TINY, compose_config

#: float16 features (the cache's) carry ~3 significant digits: what a prediction may differ by.
FLOAT16_ATOL = 1e-3
#: How far resampling to another rate and back may move the [0, 1] spectrogram (mean; any bin: 1.6 dB).
SPEC_MEAN_ATOL, SPEC_MAX_ATOL = 1e-3, 0.02


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """A tiny attention model (1 epoch) and its DataModule; its checkpoint and a word-vector cache folder."""
    run = tmp_path_factory.mktemp("predict_run")
    _, objects = train(compose_config("train", [*TINY, f"paths.data_dir={data_dir}", "test=false"], run))
    return {"ckpt": run / "checkpoints" / "last.ckpt", "dm": objects["datamodule"], "wv": run / "wv"}


@pytest.fixture(scope="module")
def predictor(trained):
    return Predictor.from_checkpoint(trained["ckpt"], cache_dir=trained["wv"], device="cpu")


def segment(trained, i: int = 0) -> dict:
    """Validation segment ``i``: its WAV, cut, words, DataModule item and the model's output on that item."""
    dm = trained["dm"]
    ds = dm.dataset("val")
    item = ds[i]
    row, cache = int(item["index"]), ds.cache
    return {
        "wav": dm.corpus().root / AUDIO_DIR / f"{cache.video_id[row]}.wav",
        "start": float(cache.column("start")[row]),
        "end": float(cache.column("end")[row]),
        "text": str(cache.text[row]),
        "item": item,
    }


def reference(predictor, item) -> np.ndarray:
    with torch.no_grad():
        return predictor.model.predict_step({k: v[None] for k, v in item.items()}, 0)["probs"][0].numpy()


def test_the_corpus_cut_gives_exactly_the_datamodule_input(trained, predictor):
    seg = segment(trained)
    pred = predictor(seg["wav"], seg["text"], seg["start"], seg["end"])
    assert pred.unknown == [] and pred.words == seg["text"].split()
    for key in ("spec", "words", "speech"):  # speech: the voice activity the gate uses, computed the same way
        torch.testing.assert_close(pred.batch[key][0], seg["item"][key], rtol=0, atol=0)
    assert int(pred.batch["spec_len"][0]) == int(seg["item"]["spec_len"])
    speech = seg["item"]["speech"][: int(seg["item"]["spec_len"])]
    assert speech.any() and not speech.all()  # speech and silence both: the mask has work to do
    assert predictor.model.net.speech_gate  # the default model gates eq. 1 by it
    np.testing.assert_allclose(pred.probs, reference(predictor, seg["item"]), atol=1e-6)


@pytest.mark.parametrize(("rate", "channels"), [(44_100, 2), (8_000, 1)])
def test_other_rates_and_stereo_match_the_datamodule_path(trained, predictor, tmp_path, rate, channels):
    seg = segment(trained)
    mono, sr = read_audio(seg["wav"], seg["start"], seg["end"])
    x = soxr.resample(mono, sr, rate)
    if channels == 2:  # channels whose mean is the original (one alone holds a loud tone): averaged
        tone = 0.2 * np.sin(2 * np.pi * 1000 * np.arange(len(x)) / rate).astype(np.float32)
        x = np.stack([x + tone, x - tone], axis=1)
    clip = tmp_path / f"clip_{rate}.wav"
    sf.write(clip, x, rate, subtype="FLOAT")
    pred = predictor(clip, seg["text"])
    assert float(pred.probs.sum()) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(pred.probs, reference(predictor, seg["item"]), atol=FLOAT16_ATOL)
    # The input itself too: a tiny untrained model barely reacts to it. Resampling twice moves the [0, 1]
    # spectrogram by well under 1 dB (1/80) anywhere past the first frame (where the resamplers start from
    # the clip's edge, up to ~2 dB); one channel alone would add a loud 1 kHz tone.
    diff = (pred.batch["spec"][0] - seg["item"]["spec"]).abs()
    assert float(diff.mean()) < SPEC_MEAN_ATOL and float(diff[..., 1:].max()) < SPEC_MAX_ATOL
    assert int(pred.batch["spec_len"][0]) == int(seg["item"]["spec_len"])
    torch.testing.assert_close(pred.batch["words"][0], seg["item"]["words"], rtol=0, atol=0)


def test_predict_cli_writes_json_and_figure_and_reports_unknown_words(trained, predictor, tmp_path):
    seg = segment(trained, 1)
    cfg = compose_config(
        "predict",
        [
            f"ckpt_path={trained['ckpt']}",
            f"audio={seg['wav']}",
            f"start={seg['start']}",
            f"end={seg['end']}",
            f"embeddings_cache={trained['wv']}",
            "device=cpu",
            *quote_free_text([f"text={seg['text']}, Qwzx!"]),
        ],
        tmp_path / "out",
    )
    payload = predict(cfg)
    saved = json.loads((tmp_path / "out" / "prediction.json").read_text())
    assert saved["unknown_words"] == ["Qwzx"] and saved["words_used"] == int(seg["item"]["word_len"])
    probs = saved["probabilities"]
    assert list(probs) == list(predictor.names) and sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    # unknown words are dropped, so the prediction is the DataModule's for the same segment
    np.testing.assert_allclose(list(probs.values()), reference(predictor, seg["item"]), atol=1e-6)
    assert saved["predicted"] == max(probs, key=probs.get) == payload["predicted"]
    assert saved["settings"]["audio"] == trained["dm"].meta.features["audio"]
    figure = Path(saved["figure"])
    assert figure == tmp_path / "out" / "prediction.png" and figure.stat().st_size > 10_000


def test_manifest_predicts_good_rows_and_reports_failed_ones(trained, predictor, tmp_path, caplog):
    seg = segment(trained)
    sf.write(tmp_path / "low.wav", np.zeros(4000, np.float32), 4000)  # below the 8 kHz feature rate
    rows = [
        [str(seg["wav"]), seg["start"], seg["end"], seg["text"]],  # row 2: good
        ["missing.wav", "", "", "hello"],  # row 3
        [str(seg["wav"]), "soon", "", "hello"],  # row 4
        [str(seg["wav"]), 1e6, "", "hello"],  # row 5: starts past the end
        ["low.wav", "", "", "hello"],  # row 6
    ]
    with open(tmp_path / "clips.csv", "w", newline="") as f:
        csv.writer(f).writerows([["audio", "start", "end", "text"], *rows])
    with caplog.at_level(logging.WARNING):
        out = predict_manifest(predictor, tmp_path / "clips.csv", tmp_path / "preds.csv")
    with open(tmp_path / "preds.csv", newline="") as f:
        saved = list(csv.DictReader(f))
    assert [r["row"] for r in saved] == ["2", "3", "4", "5", "6"] and len(out) == 5
    assert saved[0]["error"] == "" and all(r["error"] for r in saved[1:])
    for r, why in zip(saved[1:], ["not found", "soon", "past the end", "4000 Hz"], strict=True):
        assert why in r["error"], r
    assert all(f"row {r}" in caplog.text for r in (3, 4, 5, 6))
    probs = np.array([float(saved[0][n]) for n in predictor.names])
    np.testing.assert_allclose(probs, reference(predictor, seg["item"]), atol=1e-5)
    assert saved[0]["predicted"] == predictor.names[int(probs.argmax())]


def test_word_vectors_missing_from_the_checkpoint_is_a_clear_error(trained, tmp_path):
    ckpt = torch.load(trained["ckpt"], weights_only=False)
    mosei_vectors = {"name": "glove.840B.300d", "path": None}  # as conf/data/mosei.yaml
    ckpt["hyper_parameters"]["meta"]["word_vectors"] = mosei_vectors
    torch.save(ckpt, tmp_path / "mosei.ckpt")
    with pytest.raises(ValueError, match=r"embeddings=.*glove\.840B\.300d.*840B"):
        Predictor.from_checkpoint(tmp_path / "mosei.ckpt", cache_dir=trained["wv"], device="cpu")
    with pytest.raises(FileNotFoundError, match="embeddings="):
        Predictor.from_checkpoint(tmp_path / "mosei.ckpt", embeddings=tmp_path / "nope.txt", device="cpu")
    glove = trained["dm"].meta.word_vectors["path"]
    p = Predictor.from_checkpoint(
        tmp_path / "mosei.ckpt", embeddings=glove, cache_dir=trained["wv"], device="cpu"
    )
    assert p.vectors.path == Path(glove)


def test_free_text_survives_hydra_override_parsing():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for text in ["I don't know, [really] {a: b} = c?", "", "back\\slash at the end\\", "it's 'quoted'"]:
        (arg,) = quote_free_text([f"text={text}"])
        assert parser.parse_override(arg).value() == text
    untouched = ["text='already quoted'", "audio=a,b.wav"]
    assert quote_free_text(untouched) == untouched


def test_multilabel_prediction_lists_every_present_emotion():
    pred = Prediction(
        np.array([0.9, 0.2, 0.6]),
        ("a", "b", "c"),
        True,
        ["w"],
        [],
        {"spec_len": torch.tensor([3]), "word_len": torch.tensor([1])},
        None,
        1.0,
    )
    d = pred.to_dict()
    assert d["present"] == ["a", "c"] and d["predicted"] == "a"
    assert "predicted: a" in pred.describe("clip.wav")


def warnings_for(predictor, wav, text, caplog) -> list[str]:
    """The warning lines ``predictor`` logs for one clip (without the clip's path)."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mosei_attn.inference"):
        predictor(wav, text)
    return [r.getMessage().split(": ", 1)[1] for r in caplog.records]


def test_too_short_and_empty_inputs_each_get_one_fitting_warning(trained, predictor, tmp_path, caplog):
    rate = predictor.audio.sample_rate
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "1ms.wav", 0.1 * rng.standard_normal(rate // 1000).astype(np.float32), rate)
    seen = int(rate * predictor.max_seconds) // 2  # a clip the model sees whole
    sf.write(tmp_path / "silent.wav", np.zeros(seen, np.float32), rate)
    sf.write(tmp_path / "noise.wav", 0.1 * rng.standard_normal(seen).astype(np.float32), rate)
    known = " ".join(segment(trained)["text"].split()[: predictor.text.max_words])
    window_ms = 1000 * predictor.audio.win_length / rate  # tiny shapes' window: longer than 1 ms

    (short,) = warnings_for(predictor, tmp_path / "1ms.wav", known, caplog)
    assert short.startswith(f"1 ms of audio, shorter than one {window_ms:.0f} ms analysis window")
    (nothing,) = warnings_for(predictor, tmp_path / "silent.wav", "", caplog)
    assert "nothing to predict from" in nothing  # not "rests on the words" and "rests on the audio" at once
    assert warnings_for(predictor, tmp_path / "silent.wav", known, caplog) == [
        "silent audio (an all-zero spectrogram): the prediction rests on the words"
    ]
    assert warnings_for(predictor, tmp_path / "noise.wav", "Qwzx", caplog) == [
        "no word with a vector: the prediction rests on the audio alone"
    ]
    assert warnings_for(predictor, tmp_path / "noise.wav", known, caplog) == []


def test_unknown_words_are_listed_once_and_the_summary_shortened():
    repeated = [f"w{i % 14}" for i in range(214)]  # 14 distinct words without a vector, 214 occurrences
    pred = Prediction(
        np.array([0.7, 0.3]),
        ("a", "b"),
        False,
        ["known"],
        repeated,
        {"spec_len": torch.tensor([3]), "word_len": torch.tensor([1])},
        None,
        1.0,
    )
    assert pred.to_dict()["unknown_words"] == [f"w{i}" for i in range(14)]
    head = pred.describe("clip.wav").splitlines()[0]
    assert "1 of 215 words have a vector" in head
    assert head.endswith("'w8', 'w9' and 4 more)") and head.count("'w0'") == 1
