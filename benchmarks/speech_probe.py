"""How much of the stressed word's emotion the attention's speech features carry, against the spectrogram.

    python benchmarks/speech_probe.py RUN [RUN ...] [--out DIR] [--seed 0]

Eq. 1 matches each word's features against the speech features f (B, d, T') of every time position. For the
emotion word's column to find the speech of its emotion (benchmarks/word_columns.py), f must say which
emotion's prosody a position holds. This measures that with a linear probe, on the held-out test split of
each RUN (a training run with the ``heldout_seed<S>/`` folder of ``benchmarks/learning.py``):

- ``f``: the network's speech features (:meth:`AttentionNet.speech_features`), averaged over the stressed
  word's time positions, each weighed by its share of the word;
- ``f_untrained``: the same from the same network freshly initialised (``--seed``): what training added;
- ``spectrogram``: the spectrogram's mean over the stressed word's frames (one value per frequency row): what
  a reader of the input alone, with no training on the task, gets from the same frames.

The stressed word carries the label's prosody in ``both``, ``prosody_only`` and ``two_stressed`` (there the
emotion word; the truth marks it alone). Per mode, an L2-regularised logistic regression is fit on a random
half of its segments (``--seed``) and scored on the other half: accuracy and UA (the mean of the per-class
recalls), %. Writes ``<out>/speech_probe.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, when run as a script
from benchmarks.word_columns import load_heldout, write_summary  # noqa: E402
from mosei_attn.data.dataset import extra_fields  # noqa: E402
from mosei_attn.models.blocks import mask_inputs  # noqa: E402
from mosei_attn.synthetic.cue_metrics import position_share  # noqa: E402

MODES = ("both", "prosody_only", "two_stressed")
READERS = ("f", "f_untrained", "spectrogram")


def word_features(model, untrained, batch: dict) -> dict[str, torch.Tensor]:
    """Per segment of ``batch``: f of ``model`` and of the ``untrained`` one averaged over its stressed
    word's positions (B, d) each, and the spectrogram's mean over its stressed frames (B, F); rows of
    segments with no stressed frame are 0."""
    net = model.net
    spec, words = mask_inputs(
        batch["spec"].to(model.dtype), batch["spec_len"], batch["words"].to(model.dtype), batch["word_len"]
    )
    f = net.speech_features(spec, batch["spec_len"])  # (B, d, T')
    f_untrained = untrained.net.speech_features(spec, batch["spec_len"])
    stress = extra_fields(batch)["stress"].bool()  # (B, T)
    n_time = torch.full_like(batch["spec_len"], f.shape[-1])
    share = position_share(stress, n_time, f.shape[-1], net.time_stride)  # (B, T')
    frames = stress[:, : spec.shape[-1]].to(spec.dtype)
    weights = share / share.sum(dim=1, keepdim=True).clamp(min=1e-12)
    return {
        "f": torch.einsum("bdm,bm->bd", f, weights),
        "f_untrained": torch.einsum("bdm,bm->bd", f_untrained, weights),
        "spectrogram": torch.einsum(
            "bft,bt->bf", spec[:, 0], frames / frames.sum(dim=1, keepdim=True).clamp(min=1)
        ),
    }


def linear_probe(x: torch.Tensor, y: torch.Tensor, n_classes: int, seed: int) -> dict[str, float]:
    """Accuracy and UA (%) on a random half of (``x`` (N, D), ``y`` (N,)) of a logistic regression fit on the
    other half (features standardised on the fitting half; L2 penalty 1e-3)."""
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    fit, held = order[: len(y) // 2], order[len(y) // 2 :]
    mean, std = x[fit].mean(dim=0), x[fit].std(dim=0) + 1e-6
    z = (x - mean) / std
    weight = torch.zeros(x.shape[1], n_classes, requires_grad=True)
    bias = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], max_iter=300)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(z[fit] @ weight + bias, y[fit]) + 1e-3 * weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        pred = (z[held] @ weight + bias).argmax(dim=1)
    truth = y[held]
    recalls = [float((pred[truth == c] == c).float().mean()) for c in truth.unique()]
    return {"acc": 100 * float((pred == truth).float().mean()), "ua": 100 * statistics.mean(recalls)}


def probe_run(run: Path, seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """{reader: {mode: {acc, ua}}} for ``run``'s checkpoint on its held-out test split."""
    model, datamodule, split = load_heldout(run)
    torch.manual_seed(seed)
    untrained = type(model)(**model.hparams).eval()  # the same network and initialisation, untrained
    modes = datamodule.extras_provider.truth.modes
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in (*READERS, "target", "mode")}
    with torch.no_grad():
        for batch in datamodule._loader(split, shuffle=False):
            for key, value in word_features(model, untrained, batch).items():
                parts[key].append(value.float())
            parts["target"].append(batch["target"])
            parts["mode"].append(extra_fields(batch)["mode"].long())
    data = {k: torch.cat(v) for k, v in parts.items()}
    n_classes = model.meta.num_classes
    out: dict[str, dict[str, dict[str, float]]] = {}
    for reader in READERS:
        out[reader] = {}
        for mode in MODES:
            rows = data["mode"] == modes.index(mode)
            out[reader][mode] = linear_probe(data[reader][rows], data["target"][rows], n_classes, seed)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="training runs with a heldout_seed<S>/ folder")
    parser.add_argument("--out", type=Path, default=Path("speech_probe"), help="where the JSON goes")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the untrained network and of the probe's halves"
    )
    args = parser.parse_args(argv)
    results = {run.name: probe_run(run, args.seed) for run in args.runs}
    mean = {
        reader: {
            mode: {k: statistics.mean(r[reader][mode][k] for r in results.values()) for k in ("acc", "ua")}
            for mode in MODES
        }
        for reader in READERS
    }
    print("held-out test split: the stressed word's emotion read linearly, accuracy / UA %")
    print(f"{'run':<20} {'reader':<12} " + " ".join(f"{m:>16}" for m in MODES))
    for name, r in (*results.items(), ("mean", mean)):
        for reader in READERS:
            cells = " ".join(f"{r[reader][m]['acc']:>7.1f} / {r[reader][m]['ua']:>5.1f}" for m in MODES)
            print(f"{name:<20} {reader:<12} {cells}")
    return write_summary(args.out / "speech_probe.json", mean, results)


if __name__ == "__main__":
    main()
