"""Every config override README.md, docs/*.md and sweeps/README.md name in prose (`model.init=he`) composes,
lands with its type at its key, and reaches the object it configures with the value it must have (checked
against a hand-written table)."""

from __future__ import annotations

import re

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate

from mosei_attn.training.build import build_datamodule, build_model
from tests.conftest import compose_config
from tests.test_configs import optimizer_of, tiny_meta
from tests.test_readme import DOCS, _logical_lines, assert_lands


def documented_overrides() -> list[str]:
    """Single config overrides the pages name in prose (`model.attn_scale=true`), for the train config."""
    found = []
    for line in (line for doc in DOCS for line in _logical_lines(doc.read_text())):
        if re.fullmatch(r"[a-z_]+(\.[a-z_]+)+=[^\s<>]+", line) and not line.startswith("hydra."):
            found.append(line)
    return sorted(set(found))


#: The data choices a prose override may belong to (`data.emotions`: the manifest's); tiny shapes, so models build fast.
DATA_CONTEXTS = (
    ["debug=tiny_shapes"],
    ["debug=tiny_shapes", "data=manifest", "data.manifest=m.csv", "data.word_vectors.path=v.txt"],
    ["debug=tiny_shapes", "data=mosei", "data.root=/data/CMU_MOSEI"],
)


def _model_biases(model) -> list[float]:
    """Every bias value of the layers a ReLU follows (He init zeroes them; PyTorch's init does not)."""
    from mosei_attn.models.blocks import DenseHead, SpeechCNN, TextCNN

    mods = list(model.net.modules())
    layers = [c for m in mods if isinstance(m, SpeechCNN | TextCNN) for c in m.convs]
    layers += [h for m in mods if isinstance(m, DenseHead) for h in m.hidden]
    return [float(b) for layer in layers for b in layer.bias.detach().flatten()]


#: Override -> (the part built: data, model or trainer; what is read from it; the value expected, by hand).
#: A placeholder (`data.emotions=[...]`) maps to None: it only has to compose.
EMO4 = ["neutral", "happy", "sad", "angry"]
EXPECTED = {
    "data.batch_size=4": ("data", lambda dm: dm.batch_size, 4),
    "data.emotions=[...]": None,
    "data.root=...": None,
    "data.verify=content": ("data", lambda dm: dm.verify, "content"),
    "data.emotions=[neutral,happy,sad,angry]": ("data", lambda dm: dm.make_corpus.keywords["emotions"], EMO4),
    "data.strict=true": ("data", lambda dm: (dm.strict, dm.make_corpus.keywords["strict"]), (True, True)),
    "model.attn_dim=128": ("model", lambda m: m.hparams.attn_dim, 128),
    "model.class_weights_from_epoch=2": ("model", lambda m: m.hparams.class_weights_from_epoch, 2),
    "model.class_weights_from_epoch=3": ("model", lambda m: m.hparams.class_weights_from_epoch, 3),
    "model.class_weights=false": ("model", lambda m: m.class_weight is None, True),
    "model.class_weights=true": ("model", lambda m: m.class_weight is not None, True),
    "model.compile=true": ("model", lambda m: m.hparams.compile, True),
    "model.init=default": ("model", lambda m: any(b != 0.0 for b in _model_biases(m)), True),
    "model.init=he": ("model", lambda m: set(_model_biases(m)), {0.0}),
    "model.init=keras": ("model", lambda m: set(_model_biases(m)), {0.0}),
    "model.mask_padding=false": ("model", lambda m: m.net.mask_padding, False),
    "model.pool_blocks=2": ("model", lambda m: m.net.pool_blocks, 2),
    "model.speech_gate=false": ("model", lambda m: m.net.speech_gate, False),
    "model.speech_gate=true": ("model", lambda m: m.net.speech_gate, True),
    "model.text_blocks=2": ("model", lambda m: m.hparams.text_blocks, 2),
    "optimizer.weight_decay=0": (
        "model",
        lambda m: optimizer_of(m.configure_optimizers()).param_groups[0]["weight_decay"],
        0,
    ),
    "trainer.accelerator=cpu": ("trainer", lambda t: type(t.accelerator).__name__, "CPUAccelerator"),
    "trainer.max_epochs=13": ("trainer", lambda t: t.max_epochs, 13),
    "trainer.max_epochs=30": ("trainer", lambda t: t.max_epochs, 30),
    "trainer.precision=bf16-mixed": ("trainer", lambda t: t.precision, "bf16-mixed"),
}


def _build(part: str, cfg):
    """The datamodule, model or Lightning Trainer a composed train config describes."""
    if part == "trainer":
        return instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    return build_datamodule(cfg.data) if part == "data" else build_model(cfg, tiny_meta(cfg))


@pytest.mark.parametrize("override", documented_overrides())
def test_documented_override_composes(override, tmp_path):
    """Each override the README names reaches the object it configures with the type it needs (int, bool)."""
    assert override in EXPECTED, f"README names {override}: add what it must set to EXPECTED"
    (parsed,) = OverridesParser.create().parse_overrides([override])
    errors = []
    for context in DATA_CONTEXTS:
        try:
            cfg = compose_config("train", [*context, override], tmp_path / "out")
        except Exception as e:  # noqa: BLE001 (tried in the next context; all errors reported below)
            errors.append(f"{context}: {e}")
            continue
        assert_lands(cfg, parsed, override)
        if EXPECTED[override] is None:
            return
        part, read, expected = EXPECTED[override]
        got = read(_build(part, cfg))
        assert got == expected and type(got) is type(expected), f"{override}: {part} reads {got!r}"
        return
    pytest.fail(f"{override} composes with no data choice: " + "; ".join(errors))
