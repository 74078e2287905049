"""`evaluate` refuses a checkpoint whose model was trained for other data: one clear error naming the
field."""

from __future__ import annotations

import pytest

from mosei_attn import evaluate as evaluate_module
from mosei_attn.data.corpora.labels import EMOTIONS
from mosei_attn.training.build import build_model
from tests.conftest import compose_config

#: The data the tiny test config gives (tests/conftest.py TINY, debug=tiny_shapes), written out by hand.
DATA = {"emotion_names": EMOTIONS, "label_rule": "argmax", "spec_shape": (16, 64), "text_shape": (8, 300)}
#: One field at a time, what a checkpoint trained on other data would hold.
OTHER = {
    "emotion_names": tuple(reversed(EMOTIONS)),
    "label_rule": "plurality",
    "spec_shape": (16, 32),
    "text_shape": (4, 300),
}


@pytest.mark.parametrize("field", list(OTHER))
def test_evaluate_refuses_a_checkpoint_for_other_data(field, train_cfg, data_dir, tmp_path, monkeypatch):
    run_cfg = train_cfg()
    meta = {**DATA, field: OTHER[field], "class_counts": [1] * len(EMOTIONS)}
    meta = {k: list(v) if isinstance(v, tuple) else v for k, v in meta.items()}
    model = build_model(run_cfg, meta)  # what load_checkpoint would rebuild from such a checkpoint
    ckpt = tmp_path / "run" / "checkpoints" / "other.ckpt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"")
    monkeypatch.setattr(evaluate_module, "load_checkpoint", lambda path: (model, run_cfg))
    cfg = compose_config("evaluate", [f"ckpt_path={ckpt}", f"paths.data_dir={data_dir}"], tmp_path / "eval")
    with pytest.raises(ValueError) as err:
        evaluate_module.evaluate(cfg)
    message = str(err.value)
    assert str(ckpt) in message and f"trained with {field}=" in message
    assert str(OTHER[field]) in message and str(DATA[field]) in message
    for other in set(OTHER) - {field}:
        assert f"{other}=" not in message
