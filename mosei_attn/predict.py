"""Emotions of your own recordings: ``python -m mosei_attn.predict ckpt_path=... audio=clip.wav text="..."``.

Features are computed with exactly the settings the model was trained with (the checkpoint stores them),
from audio at any sample rate at or above the feature rate, mono or stereo, of any length: the model sees
the first ``max_frames`` frames (8 s by default), so ``start=``/``end=`` (seconds) pick the part to judge.
Only that part is read and analysed (a long recording is not loaded whole), so the spectrogram's dB
reference is the loudest bin of that part, as for a training segment. Words are embedded with the vectors the
model was trained with: the GloVe text file the checkpoint records, or ``embeddings=``; words without a vector
are dropped and reported. ``manifest=clips.csv`` predicts one CSV row per clip. Options: conf/predict.yaml.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from mosei_attn.checkpoints.reading import NO_VALUE, checked_ckpt_arg
from mosei_attn.config import CONFIG_DIR, quote_args
from mosei_attn.data.corpora.manifest_file import read_manifest
from mosei_attn.errors import ConfigError, discarded_on_user_fault, user_errors
from mosei_attn.files import atomic_path, write_json
from mosei_attn.inference import Predictor
from mosei_attn.process import process_setup

log = logging.getLogger(__name__)
#: Arguments that name files: quoted for Hydra (a path may hold non-ASCII letters, commas or brackets).
PATH_ARGS = ("ckpt_path", "audio", "manifest", "audio_root", "text_file", "embeddings", "output", "figure")


def check_input_args(argv: list[str], keys: tuple[str, ...]) -> None:
    """Exit, naming it, when a ``key=path`` argument of ``keys`` names no file: before Hydra creates a
    folder."""
    for arg in argv[1:]:
        key, eq, value = arg.lstrip("+").partition("=")
        value = value.strip("'\"")
        if eq and key in keys and value not in NO_VALUE and not Path(value).is_file():
            raise SystemExit(f"{key}={value}: no such file. Nothing was written")


def _seconds(row: dict[str, Any], key: str) -> float | None:
    value = row.get(key)
    value = value.strip() if isinstance(value, str) else value
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key}={value!r} is not a number of seconds") from None


def predict_manifest(
    predictor: Predictor,
    manifest: str | os.PathLike,
    output: str | os.PathLike,
    audio_root: str | os.PathLike | None = None,
) -> list[dict[str, Any]]:
    """Predict every row of a CSV/TSV/JSONL manifest (``audio``, optional ``start``/``end``, ``text``) and
    write one CSV row per input to ``output``: probabilities, predicted emotion, words without a vector,
    and ``error`` for a row that failed (missing or unreadable audio, bad times); the rest go on.
    Relative audio paths start from ``audio_root`` (default: the manifest's folder)."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: manifest file not found")
    columns, rows = read_manifest(manifest)
    if "audio" not in columns or "text" not in columns:
        raise ValueError(
            f"{manifest}: needs columns 'audio' and 'text' (optional: start, end); has {columns}"
        )
    root = Path(audio_root) if audio_root else manifest.parent
    results = []
    for rowno, row in rows:
        out: dict[str, Any] = {"row": rowno, "audio": "", "start": "", "end": ""}
        out |= {n: "" for n in predictor.names} | {"predicted": "", "unknown_words": "", "error": ""}
        try:
            if isinstance(row, str):  # read_manifest's description of a malformed row
                raise ValueError(f"malformed row: {row}")
            out |= {"audio": str(row.get("audio") or "")} | {k: row.get(k, "") for k in ("start", "end")}
            if not out["audio"]:
                raise ValueError("no audio path")
            path = Path(out["audio"]) if Path(out["audio"]).is_absolute() else root / out["audio"]
            pred = predictor(path, str(row.get("text") or ""), _seconds(row, "start"), _seconds(row, "end"))
            out |= {n: f"{p:.6f}" for n, p in zip(predictor.names, pred.probs, strict=True)}
            out |= {"predicted": pred.predicted, "unknown_words": " ".join(pred.unknown_unique)}
        except (OSError, ValueError) as e:  # AudioReadError is a ValueError; a missing file an OSError
            out["error"] = str(e)
            log.warning("%s, row %d: %s", manifest, rowno, e)
        results.append(out)
    write_csv(output, results)
    failed = sum(bool(r["error"]) for r in results)
    print(f"{len(results) - failed} of {len(results)} clip(s) predicted, {failed} failed; saved {output}")
    return results


def write_csv(path: str | os.PathLike, rows: list[dict[str, Any]]) -> Path:
    """Rows (dicts with the same keys) as a CSV file, written under a temporary name then renamed."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["row", "error"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _transcript(cfg: DictConfig) -> str:
    if cfg.get("text_file"):
        return Path(cfg.text_file).read_text(encoding="utf-8")
    if cfg.get("text") is None:
        raise ValueError(
            'give the transcript: text="what was said" (or text_file=transcript.txt; text="" '
            "predicts from the audio alone)"
        )
    return str(cfg.text)


def check_request(cfg: DictConfig) -> None:
    """ConfigError, before the checkpoint is read, for what ``predict`` cannot be asked: no clip or both a
    clip and a manifest, a clip without its transcript, ``start``/``end`` that are not numbers, a device there
    is not (``device=cuda`` without CUDA, ``device=gpu``)."""
    if (cfg.get("audio") is None) == (cfg.get("manifest") is None):
        raise ConfigError(
            "give audio=clip.wav text=... for one clip, or manifest=clips.csv for many (not both)"
        )
    if cfg.get("audio") is not None and cfg.get("text") is None and not cfg.get("text_file"):
        raise ConfigError(
            'give the transcript: text="what was said" (or text_file=transcript.txt; text="" '
            "predicts from the audio alone)"
        )
    for key in ("start", "end"):
        value = cfg.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(
                f"{key}={value}: not a number of seconds; give e.g. {key}=2.5 (or leave it out)"
            )
    device = str(cfg.get("device", "auto"))
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", device):
        raise ConfigError(f"device={device}: not a device; give device=auto, cpu, cuda (or cuda:1) or mps")
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device}: no CUDA device is usable here; give device=cpu (or device=auto)")


def predict(cfg: DictConfig) -> dict[str, Any] | list[dict[str, Any]]:
    """One clip (``audio=``): print, save JSON and a figure, return the JSON dict. A manifest
    (``manifest=``): one CSV row per clip, returned as dicts."""
    check_request(cfg)
    predictor = Predictor.from_checkpoint(
        cfg.ckpt_path, cfg.get("embeddings"), cfg.get("embeddings_cache"), cfg.get("device", "auto")
    )
    out_dir = Path(cfg.paths.output_dir)
    if cfg.get("manifest") is not None:
        output = Path(cfg.output) if cfg.get("output") else out_dir / "predictions.csv"
        return predict_manifest(predictor, cfg.manifest, output, audio_root=cfg.get("audio_root"))
    pred = predictor(cfg.audio, _transcript(cfg), cfg.get("start"), cfg.get("end"))
    print(pred.describe(str(cfg.audio)))
    output = Path(cfg.output) if cfg.get("output") else out_dir / "prediction.json"
    figure = cfg.get("figure")
    if figure is None:
        figure = output.with_suffix(".png")
    payload = {
        "checkpoint": str(cfg.ckpt_path),
        "audio": str(cfg.audio),
        "start": cfg.get("start"),
        "end": cfg.get("end"),
        **pred.to_dict(),
        "settings": predictor.settings(),
    }
    if figure is not False:
        title = f"{Path(cfg.audio).name}: {pred.predicted}"
        payload["figure"] = str(predictor.figure(pred, figure, title=title))
    write_json(output, payload)
    print(f"saved {output}" + (f" and {payload['figure']}" if "figure" in payload else ""))
    return payload


def quote_free_text(argv: list[str], keys: tuple[str, ...] = ("text",)) -> list[str]:
    """``text=don't, please`` as Hydra's quoted ``text='don\\'t, please'``: its override grammar would
    otherwise refuse commas, quotes and brackets, common in transcripts. Already quoted values stay."""
    return quote_args(argv, keys)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="predict")
def main(cfg: DictConfig) -> None:
    process_setup()  # malloc and warning filters for this process (not at import)
    with user_errors(), discarded_on_user_fault(cfg.paths.output_dir):  # a refusal leaves no empty folder
        predict(cfg)


def cli() -> None:
    """``python -m mosei_attn.predict`` and the ``mosei-attn-predict`` console script."""
    # a bad ckpt_path or input file stops here, before Hydra creates the output folder; checked as typed,
    # then quoted for Hydra
    checked_ckpt_arg(sys.argv)
    check_input_args(sys.argv, ("audio", "manifest", "text_file", "embeddings"))
    sys.argv = quote_args(quote_free_text(sys.argv), PATH_ARGS, keep=(*NO_VALUE, "false", "true"))
    main()


if __name__ == "__main__":
    cli()
