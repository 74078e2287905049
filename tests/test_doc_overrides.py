"""Every config override README.md, docs/*.md and sweeps/README.md name in prose (`model.init=he`) composes,
lands with its type at its key, and reaches the object it configures with the value it must have (checked
against a hand-written table)."""

from __future__ import annotations

import re
from unittest import mock

import pytest
import torch
import torch.nn.functional as F
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


#: The data choices a prose override may belong to (`data.corpus.emotions`: the manifest's); tiny shapes, so
#: models build fast.
DATA_CONTEXTS = (
    ["debug=tiny_shapes"],
    ["debug=tiny_shapes", "data=manifest", "data.corpus.manifest=m.csv", "data.word_vectors.path=v.txt"],
    ["debug=tiny_shapes", "data=mosei", "data.root=/data/CMU_MOSEI"],
)


def _model_biases(model) -> list[float]:
    """Every bias value of the layers a ReLU follows (He init zeroes them; PyTorch's init does not)."""
    from mosei_attn.models.blocks import DenseHead, SpeechCNN, TextCNN

    mods = list(model.net.modules())
    layers = [c for m in mods if isinstance(m, SpeechCNN | TextCNN) for c in m.convs]
    layers += [h for m in mods if isinstance(m, DenseHead) for h in m.hidden]
    return [float(b) for layer in layers for b in layer.bias.detach().flatten()]


def _first_weighted_epoch(model) -> int | None:
    """The first epoch (of 0-5) whose loss is not plain cross entropy: where the class weights start."""
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 3.0]])
    target = torch.tensor([0, 1, 2])
    plain = F.cross_entropy(logits, target)
    with mock.patch.object(type(model), "current_epoch", new_callable=mock.PropertyMock) as epoch:
        for e in range(6):
            epoch.return_value = e
            if not torch.allclose(model.loss(logits, target), plain):
                return e
    return None


def _compiled_when_fitting(model) -> tuple[bool, bool]:
    """(whether the network is compiled before setup, and after ``setup("fit")``)."""
    before = model.net._compiled_call_impl is not None
    model.setup("fit")
    return before, model.net._compiled_call_impl is not None


#: Placeholders the pages write (`data.root=...`) -> the concrete override tested in their place.
PLACEHOLDERS = {
    "data.corpus.emotions=[...]": "data.corpus.emotions=[neutral,happy,sad,angry]",
    "data.root=...": "data.root=/data/elsewhere",
}

#: Override -> (the part built: data, model or trainer; what is read from it; the value expected, by hand).
#: The network's sizes are read from the built layers, not from the hparams that asked for them.
EMO4 = ["neutral", "happy", "sad", "angry"]
EXPECTED = {
    "data.batch_size=4": ("data", lambda dm: dm.batch_size, 4),
    "data.root=/data/elsewhere": ("data", lambda dm: dm.root["root"], "/data/elsewhere"),
    "data.verify=content": ("data", lambda dm: dm.verify, "content"),
    "data.corpus.emotions=[neutral,happy,sad,angry]": (
        "data",
        lambda dm: dm.make_corpus.keywords["emotions"],
        EMO4,
    ),
    "data.strict=true": ("data", lambda dm: (dm.strict, dm.make_corpus.keywords["strict"]), (True, True)),
    "model.attn_dim=128": (
        "model",
        lambda m: (m.net.proj_speech.out_channels, m.net.proj_text.out_channels),
        (128, 128),
    ),
    "model.class_weights_from_epoch=2": ("model", _first_weighted_epoch, 2),
    "model.class_weights_from_epoch=3": ("model", _first_weighted_epoch, 3),
    "model.class_weights=false": ("model", lambda m: m.class_weight is None, True),
    "model.class_weights=true": ("model", lambda m: m.class_weight is not None, True),
    "model.compile=true": ("model", _compiled_when_fitting, (False, True)),
    "data.label_rule=argmax": ("data", lambda dm: dm.label_rule, "argmax"),
    "model.alpha_scale=mean_one": ("model", lambda m: m.net.alpha_scale, "mean_one"),
    "model.alpha_scale=none": ("model", lambda m: m.net.alpha_scale, "none"),
    "model.head=flatten": ("model", lambda m: m.net.head_kind, "flatten"),
    "model.head=mean": ("model", lambda m: m.net.head_kind, "mean"),
    "model.init=default": ("model", lambda m: any(b != 0.0 for b in _model_biases(m)), True),
    "model.init=he": ("model", lambda m: set(_model_biases(m)), {0.0}),
    "model.init=keras": ("model", lambda m: set(_model_biases(m)), {0.0}),
    "model.mask_padding=false": ("model", lambda m: m.net.mask_padding, False),
    "model.pool_blocks=2": ("model", lambda m: m.net.pool_blocks, 2),
    "model.speech_gate=false": ("model", lambda m: m.net.speech_gate, False),
    "model.speech_gate=true": ("model", lambda m: m.net.speech_gate, True),
    "model.words_dropout=0": ("model", lambda m: m.hparams.words_dropout, 0),
    "model.words_dropout=0.2": ("model", lambda m: m.hparams.words_dropout, 0.2),
    "model.text_blocks=2": ("model", lambda m: len(m.net.text.convs), 2),
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
    override = PLACEHOLDERS.get(override, override)
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
        part, read, expected = EXPECTED[override]
        got = read(_build(part, cfg))
        assert got == expected and type(got) is type(expected), f"{override}: {part} reads {got!r}"
        return
    pytest.fail(f"{override} composes with no data choice: " + "; ".join(errors))
