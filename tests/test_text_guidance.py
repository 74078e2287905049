"""The shuffled-words instrument (mosei_attn.models.text_guidance): each segment given another segment's words
at validation and test; accuracies with them, and how far they move alpha, against hand-worked values."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from mosei_attn.data.meta import DataMeta
from mosei_attn.models.attention import CPU_CHUNK, AttentionNet
from mosei_attn.models.base import EmotionModule
from mosei_attn.models.output import NetOutput
from mosei_attn.models.shallow import ShallowNet
from mosei_attn.models.text_guidance import TextGuidance, swap_words, total_variation, word_donors
from mosei_attn.reporting.run_report import extra_line
from mosei_attn.synthetic.cue_metrics import CueMetrics

EMOTIONS = ("happy", "sad", "anger", "surprise", "disgust", "fear")
SGD = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 1e-3}
M = 4  # time positions of the hand-made networks: 8 frames, 2 frames each


class WordsNet(nn.Module):
    """A hand-made network that reads only the words: its logits are the first word's vector from the second
    entry on, and its alpha is one-hot at the position the first entry names. So alpha follows the words."""

    def __init__(self, spec_shape, text_shape, num_classes) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.unused = nn.Parameter(torch.zeros(1))  # an optimizer needs a parameter

    def forward(self, spec, spec_len, words, word_len) -> NetOutput:
        logits = words[:, 0, 1 : 1 + self.num_classes]
        alpha = nn.functional.one_hot(words[:, 0, 0].long(), M).to(spec.dtype)  # (B, m)
        return NetOutput(logits, alpha[:, :, None], alpha, torch.full_like(spec_len, M))


class WordsOnlyNet(WordsNet):
    """The same classifier without attention (as the shallow model: no alpha)."""

    def forward(self, spec, spec_len, words, word_len) -> NetOutput:
        return NetOutput(super().forward(spec, spec_len, words, word_len).logits)


class DeafNet(WordsNet):
    """Eq. 1 ignores the words: alpha is a softmax of each position's loudness alone."""

    def forward(self, spec, spec_len, words, word_len) -> NetOutput:
        level = spec.mean(dim=(1, 2)).view(spec.shape[0], M, -1).mean(dim=2)  # (B, m)
        alpha = (4 * level).softmax(dim=1)
        logits = super().forward(spec, spec_len, words, word_len).logits
        return NetOutput(logits, alpha[:, :, None], alpha, torch.full_like(spec_len, M))


def _module(net: type[nn.Module]) -> EmotionModule:
    cls = type(f"{net.__name__}Module", (EmotionModule,), {"net_class": net})
    return cls(DataMeta(EMOTIONS, "argmax", (3, 2 * M), (2, 8), class_counts=(1,) * 6), SGD)


def _batch(targets: list[int], positions: list[int], seed: int = 0) -> dict[str, torch.Tensor]:
    """Segments whose first word names their class (so the words alone classify them) and a position."""
    b = len(targets)
    words = torch.zeros(b, 2, 8)
    words[:, 0, 0] = torch.tensor(positions, dtype=torch.float32)
    words[torch.arange(b), 0, 1 + torch.tensor(targets)] = 1.0
    return {
        "spec": torch.rand(b, 1, 3, 2 * M, generator=torch.Generator().manual_seed(seed)),
        "spec_len": torch.full((b,), 2 * M),
        "words": words,
        "word_len": torch.full((b,), 2),
        "target": torch.tensor(targets),
    }


def _results(model: EmotionModule, batches: list[dict]) -> dict:
    trainer = L.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.validate(model, DataLoader(batches, batch_size=None), verbose=False)
    trainer.test(model, DataLoader(batches, batch_size=None), verbose=False)
    assert model.val_results.keys() == model.test_results.keys()
    for key in ("shuffled/ua", "shuffled/wa", "text_guidance", "shuffled/unpaired"):  # logged too
        assert (key in model.test_results) == (f"test/{key}" in trainer.callback_metrics), key
    return model.test_results


#: By hand: segment i takes the words of segment i - 1 (the first the last one's).
#: targets (0, 0, 1, 2), positions (0, 0, 2, 3) -> with the other words: predictions (2, 0, 0, 1), alpha's
#: positions (3, 0, 0, 2). Right: segment 1 only -> WA 1/4; recall: class 0 1/2, classes 1 and 2 0 -> UA 1/6.
#: Total variation of two one-hot alphas: 1 where the positions differ -> (1, 0, 1, 1), mean 0.75.
TARGETS, POSITIONS = [0, 0, 1, 2], [0, 0, 2, 3]


def test_swap_words_gives_every_segment_anothers_words() -> None:
    batch = _batch(TARGETS, POSITIONS)
    swapped = swap_words(batch)
    assert torch.equal(swapped["words"][1:], batch["words"][:-1]) and torch.equal(
        swapped["words"][0], batch["words"][-1]
    )
    assert swapped["spec"] is batch["spec"] and swapped["target"] is batch["target"]
    with pytest.raises(ValueError, match="at least 2"):
        swap_words(_batch([0], [0]))


def test_words_only_classifier_falls_to_the_hand_worked_accuracy_and_alpha_follows_the_words() -> None:
    res = _results(_module(WordsNet), [_batch(TARGETS, POSITIONS)])
    assert res["ua"] == pytest.approx(1.0) and res["wa"] == pytest.approx(1.0)  # its own words: all right
    assert res["shuffled/wa"] == pytest.approx(1 / 4) and res["shuffled/ua"] == pytest.approx(1 / 6)
    assert res["text_guidance"] == pytest.approx(0.75)
    assert "shuffled/unpaired" not in res


def test_a_model_without_attention_gets_the_accuracies_only() -> None:
    res = _results(_module(WordsOnlyNet), [_batch(TARGETS, POSITIONS)])
    assert res["shuffled/wa"] == pytest.approx(1 / 4) and res["shuffled/ua"] == pytest.approx(1 / 6)
    assert "text_guidance" not in res


def test_words_that_do_not_reach_alpha_score_exactly_zero() -> None:
    res = _results(_module(DeafNet), [_batch(TARGETS, POSITIONS), _batch([3, 4], [1, 2], seed=1)])
    assert res["text_guidance"] == 0.0  # exactly: the same alpha in both passes
    assert res["shuffled/wa"] < 1.0  # the words still move its prediction


def test_a_segment_alone_in_its_batch_is_left_out_and_counted_never_scored_zero() -> None:
    # a batch of one: no other segment's words to give it; here it would have scored 1 with its own
    res = _results(_module(WordsNet), [_batch(TARGETS, POSITIONS), _batch([3], [1])])
    assert res["wa"] == pytest.approx(1.0)
    assert res["shuffled/wa"] == pytest.approx(1 / 4) and res["shuffled/ua"] == pytest.approx(1 / 6)
    assert res["text_guidance"] == pytest.approx(0.75) and res["shuffled/unpaired"] == 1
    alone = _results(_module(WordsNet), [_batch([3], [1]), _batch([2], [0])])  # nothing to measure
    assert alone["shuffled/unpaired"] == 2
    assert not {"shuffled/ua", "shuffled/wa", "text_guidance"} & alone.keys()
    assert "2 segment(s) left out" in extra_line(alone)


def test_attention_net_whose_eq1_ignores_the_words_scores_zero() -> None:
    """The real network with the word features' projection zeroed (e_i the same for every word): each
    column of eq. 1 is the same softmax, so alpha's shape does not depend on which words, or how many."""
    torch.manual_seed(0)
    net = AttentionNet((16, 64), (8, 12), 6, kernels=4, dense=[16, 8], attn_dim=8).eval()
    with torch.no_grad():  # at initialisation alpha is nearly flat: steeper speech features make it peak
        net.proj_speech.weight.mul_(10)
        net.proj_text.weight.zero_()
        net.proj_text.bias.normal_()  # the scores still vary over time: f_t . b
        spec, words = torch.rand(3, 1, 16, 64), torch.randn(3, 8, 12)
        spec_len, word_len = torch.tensor([64, 40, 64]), torch.tensor([8, 3, 1])
        own = net(spec, spec_len, words, word_len)
        swapped = swap_words({"words": words, "word_len": word_len})
        other = net(spec, spec_len, swapped["words"], swapped["word_len"])
        tv = total_variation(own, other)
        assert tv.max() < 1e-6 and (own.alpha.std(dim=1) > 0).all()  # alpha is not flat: it is the audio's
        torch.nn.init.normal_(net.proj_text.weight)  # the words reach eq. 1 again: alpha moves
        moved = total_variation(net(spec, spec_len, words, word_len), net(spec, spec_len, *swapped.values()))
    assert moved.min() > 1e-4 > 100 * tv.max()


def test_total_variation_normalises_each_alpha_over_the_real_positions() -> None:
    """Alphas of any scale (eq. 2's sum over the words, or rescaled) compare as distributions over the
    segment's real positions: (2, 2, 0 | pad) against (1, 0, 1 | pad) -> (0.5, 0.5, 0) vs (0.5, 0, 0.5):
    TV 0.5."""
    own = NetOutput(torch.zeros(1, 6), alpha=torch.tensor([[2.0, 2.0, 0.0, 0.0]]), attended=torch.tensor([3]))
    other = NetOutput(
        torch.zeros(1, 6), alpha=torch.tensor([[1.0, 0.0, 1.0, 9.0]]), attended=torch.tensor([3])
    )
    assert total_variation(own, other).tolist() == [0.5]
    metric = TextGuidance()
    metric.update(own, other)
    metric.update(own, None)
    assert metric.compute() == {"text_guidance": 0.5, "shuffled/unpaired": 1.0}


def test_cue_metrics_score_the_shuffled_alpha_against_the_segments_own_truth() -> None:
    """Two segments of mode 0, 4 positions of 2 frames, stressed frames at position 1 (segment 0) and 3
    (segment 1). Own alpha one-hot on them: pointing 4 each (stress is a quarter of the frames). The other
    words' alpha: segment 0 gets segment 1's (position 3: pointing 0), segment 1 gets segment 0's (0)."""
    stress = torch.zeros(2, 8, dtype=torch.bool)
    stress[0, 2:4], stress[1, 6:8] = True, True
    alpha = torch.eye(M)[[1, 3]]
    own = NetOutput(torch.eye(6)[[0, 1]], alpha[:, :, None], alpha, torch.tensor([M, M]))
    own.shuffled = NetOutput(
        torch.eye(6)[[1, 1]], alpha.roll(1, 0)[:, :, None], alpha.roll(1, 0), own.attended
    )
    metric = CueMetrics(["both", "text_only"], stride=2)
    metric.update(own.logits.argmax(1), torch.tensor([0, 1]), torch.tensor([0, 0]), own, stress)
    res = metric.compute()
    assert res["pointing_both"] == pytest.approx(4.0) and res["shuffled/pointing_both"] == pytest.approx(0.0)
    assert res["acc_both"] == 1.0 and res["shuffled/acc_both"] == 0.5
    assert "shuffled/pointing_text_only" not in res
    line = extra_line(res)
    assert "other segments' words: " in line and "pointing both 0.00" in line.split("other segments")[1]


def test_report_line_gives_the_shuffled_figures() -> None:
    line = extra_line({"shuffled/ua": 0.415, "shuffled/wa": 0.435, "text_guidance": 0.0123})
    assert line == "other segments' words: UA 41.5%, WA 43.5%, text guidance 0.012"


def test_follows_words_scores_the_prediction_against_the_word_donors_label() -> None:
    """Labels 0, 1, 2; with swapped words segment i has segment i-1's words (the first the last one's), so
    the donors' labels are 2, 0, 1. Predictions 2, 0, 2 with the swapped words: the two 'both' segments follow
    their words (1.0) and miss their own label (0.0); the two_stressed one keeps its own label (2) and does
    not follow its words (0.0)."""
    modes = ["both", "two_stressed"]
    own = NetOutput(torch.eye(6)[[0, 1, 2]])
    own.shuffled = NetOutput(torch.eye(6)[[2, 0, 2]])
    metric = CueMetrics(modes, stride=1)
    metric.update(own.logits.argmax(1), torch.tensor([0, 1, 2]), torch.tensor([0, 0, 1]), own)
    res = metric.compute()
    assert res["shuffled/follows_words_both"] == 1.0 and res["shuffled/acc_both"] == 0.0
    assert res["shuffled/follows_words_two_stressed"] == 0.0 and res["shuffled/acc_two_stressed"] == 1.0
    assert "the other words' label by group both 100.0%, two_stressed 0.0%" in extra_line(res)
    assert word_donors(3).tolist() == [2, 0, 1]
    batch = {"words": torch.arange(3.0)[:, None, None], "word_len": torch.tensor([1, 2, 3])}
    swapped = swap_words(batch)  # the donors swap_words uses are those the metric scores against
    assert swapped["words"].flatten().tolist() == [2.0, 0.0, 1.0] and swapped["word_len"].tolist() == [
        3,
        1,
        2,
    ]


@pytest.mark.parametrize("cls", [AttentionNet, ShallowNet])
def test_both_sets_of_words_in_one_call_run_the_speech_cnn_once(cls: type[nn.Module]) -> None:
    """Given ``other_words``, a network returns as ``shuffled`` exactly what a second call with those words
    gives (every output, to the bit), while its speech CNN, which reads no words, runs once: on the CPU the
    attention network's batch of 9 segments is 3 chunks (``CPU_CHUNK`` 4), so 3 speech CNN calls, not 6.
    The module hands the swapped words to such a network in that one call."""
    torch.manual_seed(0)
    sizes = {"kernels": 4, "dense": [16, 8], "mask_padding": True}
    if cls is AttentionNet:
        sizes |= {"attn_dim": 8, "head": "mean"}
    module = type("NetModule", (EmotionModule,), {"net_class": cls})(
        DataMeta(EMOTIONS, "argmax", (16, 64), (8, 12), class_counts=(1,) * 6), SGD, **sizes
    ).eval()
    spec, words = torch.rand(9, 1, 16, 64), torch.randn(9, 8, 12)
    spec_len = torch.tensor([50, 9, 33, 17, 64, 25, 41, 12, 47])
    word_len = torch.tensor([8, 3, 1, 5, 8, 2, 7, 4, 6])
    batch = {"spec": spec, "spec_len": spec_len, "words": words, "word_len": word_len}
    swapped = swap_words(batch)
    net, calls = module.net, []
    net.speech.register_forward_pre_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        both = net(spec, spec_len, words, word_len, other_words=(swapped["words"], swapped["word_len"]))
        n_both = len(calls)
        own, other = (
            net(spec, spec_len, words, word_len),
            net(spec, spec_len, swapped["words"], swapped["word_len"]),
        )
        n_apart = len(calls) - n_both
        through_module = module(batch, other_words=True)
    chunks = -(-len(spec_len) // CPU_CHUNK) if cls is AttentionNet else 1  # 9 segments: 3 chunks of 4
    assert (n_both, n_apart, len(calls) - n_both - n_apart) == (chunks, 2 * chunks, chunks)
    for field in ("logits", "attention", "alpha", "weights", "covered", "attended"):
        for mine, expected in ((both, own), (both.shuffled, other), (through_module.shuffled, other)):
            a, b = getattr(mine, field), getattr(expected, field)
            assert (a is None and b is None) or torch.equal(a, b), field
