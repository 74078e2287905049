"""The entry points end to end on tiny data: train, evaluate, resume, loggers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from mosei_attn.train import train
from tests.conftest import evaluate_checkpoint


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


@pytest.mark.parametrize("model", ["attention", "shallow"])
def test_fast_dev_run_writes_the_run_folder(train_cfg, tmp_path, model):
    metrics, objects = train(train_cfg(f"model={model}", "++trainer.fast_dev_run=true", "figures=true"))
    run = objects["output_dir"]
    saved = _metrics(run)
    assert saved["model"] == model
    assert saved["splits"] == ["val", "test"] and saved["paper"]["split"] == "val"
    n_segments = {
        "val": len(objects["datamodule"].dataset("val")),
        "test": len(objects["datamodule"].dataset("test")),
    }
    for split in ("val", "test"):
        assert 0.0 <= saved[f"{split}/wa"] <= 1.0 and 0.0 <= saved[f"{split}/ua"] <= 1.0
        assert len(saved[f"{split}/confusion"]) == 6
        assert (run / f"confusion_{split}.png").stat().st_size > 0
        # fast_dev_run evaluates one batch of each split
        assert sum(map(sum, saved[f"{split}/confusion"])) == min(8, n_segments[split])
    assert (run / "attention_0.png").exists() == (model == "attention")
    assert metrics["test/ua"] == pytest.approx(saved["test/ua"])


def test_without_figures_a_run_writes_its_tables_and_no_picture(train_cfg, capsys):
    """figures=false: metrics.json with both splits' tables and confusion matrices, the printed tables, and
    not one PNG in the run folder (nor in its record of figures)."""
    _, objects = train(train_cfg("trainer.max_epochs=1", "figures=false"))
    run = objects["output_dir"]
    saved = _metrics(run)
    assert len(saved["val/confusion"]) == len(saved["test/confusion"]) == 6 and saved["figures"] == {}
    assert "test split, best checkpoint epoch000" in capsys.readouterr().out
    assert not list(run.rglob("*.png"))


def test_train_then_evaluate_gives_the_same_figures(train_cfg, data_dir, tmp_path, capsys):
    metrics, objects = train(train_cfg("trainer.max_epochs=2", "figures=true"))
    run = objects["output_dir"]
    saved = _metrics(run)
    # the synthetic corpus's truth attaches the cue metrics; the attention figures are the module's own
    for split in ("val", "test"):
        for key in ("acc_both", "pointing", "pointing_both", "attn_peak", "attn_onset", "attn_onset_chance"):
            assert f"{split}/{key}" in saved, (split, key)
        assert 0.0 < saved[f"{split}/attn_onset_chance"] <= 1.0
    assert "val/pointing_both" in metrics  # logged, not only written
    printed = capsys.readouterr().out
    assert "accuracy by group: both" in printed and "peak on onset" in printed
    best = saved["best_checkpoint"]
    assert best and Path(best).parent == run / "checkpoints"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    again = evaluate_checkpoint(best, data_dir, tmp_path / "eval")
    # the attention figures move with every weight: the test saw the checkpoint's weights (their average)
    for key in (
        "test/wa",
        "test/ua",
        "test/f1_macro",
        "test/attn_peak",
        "test/attn_entropy",
        "test/pointing",
    ):
        assert again[key] == pytest.approx(saved[key], abs=1e-6), key
    assert again["test/confusion"] == saved["test/confusion"]
    # the best checkpoint's validation table is the one evaluate gives on the validation split
    on_val = evaluate_checkpoint(best, data_dir, tmp_path / "eval_val", "split=val")
    assert on_val["val/confusion"] == saved["val/confusion"]
    assert on_val["val/ua"] == pytest.approx(saved["val/ua"], abs=1e-6)
    assert saved["val/ua"] == pytest.approx(saved["val/ua_best"], abs=1e-6)  # best by val/ua
    with open(run / "metrics.csv") as f:  # the final validation pass adds no epoch to the curves
        epochs = [row["epoch"] for row in csv.DictReader(f) if row.get("val/ua")]
    assert epochs == ["0", "1"]
    assert (run / "curves.png").stat().st_size > 0  # every run that logged an epoch draws its curves
    assert saved["checkpoint_epoch"] == int(Path(best).name[len("epoch") :][:3])  # epoch{epoch:03d}-ua...


def test_resume_from_last_checkpoint_continues(train_cfg, tmp_path, monkeypatch):
    """The resumed run starts from the saved Adam state (moments and step count), not a fresh optimizer, and
    from the saved weights as trained, with their saved moving average beside them."""
    from mosei_attn.models.base import EmotionModule
    from mosei_attn.training.callbacks import WeightAverage

    run = tmp_path / "run"
    train(train_cfg("trainer.max_epochs=1", "~scheduler", output_dir=run))
    last = run / "checkpoints" / "last.ckpt"
    first = torch.load(last, weights_only=False)
    assert first["epoch"] == 0
    steps = first["global_step"]
    saved = first["optimizer_states"][0]["state"]
    assert saved and {float(s["step"]) for s in saved.values()} == {float(steps)}  # Adam stepped each batch
    # the checkpoint's state_dict is the average, current_model_state the weights as trained: not the same
    assert first["state_dict"].keys() == first["current_model_state"].keys()
    assert any(not torch.equal(v, first["current_model_state"][k]) for k, v in first["state_dict"].items())
    at_start, weights_at_start = {}, {}
    start = EmotionModule.on_train_start

    def record(self):  # the optimizer and the weights as the resumed fit holds them before its first step
        state = self.trainer.optimizers[0].state_dict()["state"]  # copied: Adam updates it in place
        at_start.update({k: {n: v.clone() for n, v in s.items()} for k, s in state.items()})
        (average,) = [c for c in self.trainer.callbacks if isinstance(c, WeightAverage)]
        weights_at_start["trained"] = {k: v.clone() for k, v in self.state_dict().items()}
        weights_at_start["average"] = {
            k: v.clone() for k, v in average._average_model.module.state_dict().items()
        }
        start(self)

    monkeypatch.setattr(EmotionModule, "on_train_start", record)
    train(train_cfg("trainer.max_epochs=2", "~scheduler", f"ckpt_path={last}", output_dir=run))
    assert at_start.keys() == saved.keys()
    for k, s in saved.items():  # a fresh Adam has no state at all before its first step
        assert float(at_start[k]["step"]) == float(steps)
        assert torch.equal(at_start[k]["exp_avg"], s["exp_avg"])
        assert torch.equal(at_start[k]["exp_avg_sq"], s["exp_avg_sq"])
    for key, saved_weights in (("trained", first["current_model_state"]), ("average", first["state_dict"])):
        assert weights_at_start[key].keys() == saved_weights.keys()
        assert all(torch.equal(weights_at_start[key][k], v) for k, v in saved_weights.items()), key
    second = torch.load(last, weights_only=False)
    assert second["global_step"] == 2 * steps  # one more epoch, not two
    assert {float(s["step"]) for s in second["optimizer_states"][0]["state"].values()} == {2.0 * steps}
    with open(run / "metrics.csv") as f:
        rows = [tuple(row.items()) for row in csv.DictReader(f)]
    epochs = {dict(row)["epoch"] for row in rows if dict(row).get("val/ua")}
    assert epochs == {"0", "1"}  # the epoch logged before the resume is kept
    assert len(set(rows)) == len(rows)  # and no row twice (the learning rate at the step it resumed from)
    assert not list(run.glob("metrics.part*.csv"))


def test_checkpoint_rebuilds_without_the_dataset(train_cfg, tmp_path, monkeypatch):
    """The run's checkpoints are written under a temporary name beside them and renamed (a failed write keeps
    the previous file), and last.ckpt rebuilds the network with the weights the run finished with."""
    import os

    renames, replace = [], os.replace
    monkeypatch.setattr(
        os, "replace", lambda src, dst: (renames.append((Path(src), Path(dst))), replace(src, dst))[1]
    )
    _, objects = train(train_cfg("trainer.max_epochs=1", "model=shallow"))
    from mosei_attn.checkpoints.reading import load_checkpoint

    checkpoints = objects["output_dir"] / "checkpoints"
    written = sorted(checkpoints.glob("*.ckpt"))
    assert len(written) == 2  # last.ckpt and the best one
    for ckpt in written:
        assert (ckpt.with_name(f"{ckpt.name}.tmp-{os.getpid()}"), ckpt) in renames, ckpt.name
    model, run_cfg = load_checkpoint(checkpoints / "last.ckpt")
    assert model.meta.emotion_names == objects["datamodule"].meta.emotion_names
    assert run_cfg.model._target_.endswith("ShallowModule")
    # one epoch: last.ckpt and the best checkpoint (which test loaded into the run's model) hold one set of
    # weights
    trained = objects["model"].state_dict()
    loaded = model.state_dict()
    assert loaded.keys() == trained.keys()
    assert all(torch.equal(loaded[k], v.cpu()) for k, v in trained.items())
    batch = next(iter(objects["datamodule"].val_dataloader()))
    model.eval()
    objects["model"].eval()
    with torch.no_grad():
        out, expected = model(batch), objects["model"](batch)
    assert out.attention is None
    torch.testing.assert_close(out.logits, expected.logits)


def test_wandb_offline_writes_a_syncable_run_folder(train_cfg, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = train_cfg("logger=wandb", "++trainer.fast_dev_run=true")
    _, objects = train(cfg)
    import wandb

    from tests.wandb_records import read_when_complete

    wandb.finish()  # what job_scope does when the Hydra job ends: the run file is complete
    runs = list((objects["output_dir"] / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    (run_file,) = runs[0].glob("run-*.wandb")  # the file `wandb sync` uploads
    run = read_when_complete(run_file)
    assert run["run_id"] == (objects["output_dir"] / "wandb_run_id").read_text().strip()
    # the run's config as composed: the default model with the tiny sizes, the seed, the batch size
    config = run["config"]
    assert config["model"]["_target_"] == "mosei_attn.models.AttentionModule"
    assert config["model"]["kernels"] == 4 and config["model"]["dense"] == [16, 8]
    assert config["seed"] == cfg.seed and config["data"]["batch_size"] == cfg.data.batch_size == 8


def test_a_resume_that_changes_what_the_run_trains_is_refused(train_cfg, tmp_path):
    """More epochs extend a cosine run (tests/test_faults_checkpoint.py); a schedule of another length than
    the epochs, or other features of the audio, change what the run trains: refused, naming the key, before
    anything is written."""
    run = tmp_path / "run"
    train(train_cfg("trainer.max_epochs=1", "model=shallow", output_dir=run))
    before = sorted(p.name for p in run.rglob("*"))
    ckpt = f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}"
    for override, message in (
        ("scheduler.T_max=5", r"scheduler.T_max: 1 in the run, 5 now"),
        ("data.audio.hop_length=32", r"data.audio.hop_length: 64 in the run, 32 now"),
    ):
        with pytest.raises(ValueError, match=message):
            train(train_cfg("trainer.max_epochs=2", "model=shallow", override, ckpt, output_dir=run))
        assert sorted(p.name for p in run.rglob("*")) == before, override


def test_evaluate_uses_the_runs_precision(train_cfg, data_dir, tmp_path):
    """A bf16-mixed run is evaluated in bf16-mixed (its test table reproduced), unless precision is given."""
    metrics, objects = train(
        train_cfg("trainer.max_epochs=1", "model=shallow", "trainer.precision=bf16-mixed")
    )
    saved = _metrics(objects["output_dir"])
    best = saved["best_checkpoint"]
    again = evaluate_checkpoint(best, data_dir, tmp_path / "e")
    assert again["precision"] == "bf16-mixed"
    assert again["test/confusion"] == saved["test/confusion"]
    fp32 = evaluate_checkpoint(best, data_dir, tmp_path / "f", "precision=32-true")
    assert fp32["precision"] == "32-true"


def test_joined_history_keeps_a_row_repeated_by_the_resume_once(tmp_path):
    """A run resumed from the end of epoch 1 logs epoch 2's learning rate at the step it had logged it before
    the interruption: the joined metrics.csv holds that row once, and every other row as it was."""
    from mosei_attn.training.history import keep_csv_history, merge_csv_history

    def write(rows):
        with open(tmp_path / "metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
            writer.writeheader()
            writer.writerows(rows)

    lr = {"epoch": "2", "step": "20", "lr-AdamW": "0.0005"}
    before = [{"epoch": "1", "step": "19", "lr-AdamW": "", "val/ua": "0.4"}, {**lr, "val/ua": ""}]
    write(before)
    keep_csv_history(tmp_path)
    after = [lr, {"epoch": "2", "step": "29", "lr-AdamW": "", "val/ua": "0.5"}, lr | {"step": "30"}]
    write(after)
    merge_csv_history(tmp_path)
    with open(tmp_path / "metrics.csv", newline="") as f:
        joined = list(csv.DictReader(f))
    assert [(r["step"], r["lr-AdamW"], r["val/ua"]) for r in joined] == [
        ("19", "", "0.4"),
        ("20", "0.0005", ""),
        ("29", "", "0.5"),
        ("30", "0.0005", ""),
    ]
