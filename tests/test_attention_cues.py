"""What the attention can be measured by: the cue truth and the cue metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mosei_attn.models.attention_stats import peakedness
from mosei_attn.models.output import NetOutput
from mosei_attn.reporting.run_report import extra_line
from mosei_attn.synthetic import writer as syn
from mosei_attn.synthetic.config import MODES
from mosei_attn.synthetic.cue_metrics import CueMetrics, pointing, position_share, word_choice
from mosei_attn.synthetic.cue_truth import TRUTH_FILE, read_cue_truth


def test_pointing_is_one_for_uniform_alpha_and_higher_on_the_stressed_frames() -> None:
    stride, m = 4, 8
    n_time = torch.tensor([8, 6])
    stress = torch.zeros(2, m * stride, dtype=torch.bool)
    stress[:, 8:12] = True  # time position 2 of each segment
    uniform = torch.stack([torch.full((m,), 1 / 8), torch.cat([torch.full((6,), 1 / 6), torch.zeros(2)])])
    assert pointing(uniform, n_time, stress, stride).tolist() == pytest.approx([1.0, 1.0])
    focused = torch.zeros(2, m)
    focused[:, 2] = 1.0
    assert pointing(focused, n_time, stress, stride).tolist() == pytest.approx([8.0, 6.0])
    elsewhere = torch.zeros(2, m)
    elsewhere[:, 0] = 1.0
    assert pointing(elsewhere, n_time, stress, stride).tolist() == pytest.approx([0.0, 0.0])
    ratio, entropy = peakedness(torch.cat([uniform[:1], focused[:1]]), n_time[:1].repeat(2))
    assert ratio.tolist() == pytest.approx([1.0, 8.0]) and entropy.tolist() == pytest.approx([1.0, 0.0])
    no_stress = pointing(uniform, n_time, torch.zeros_like(stress), stride)
    assert no_stress.isnan().all()  # nothing to point at: left out, not scored


def test_cue_metrics_per_mode_accuracy_and_pointing() -> None:
    metric = CueMetrics(MODES, stride=4)
    preds, target = torch.tensor([0, 1, 2, 3, 4]), torch.tensor([0, 1, 0, 3, 0])
    mode = torch.tensor([0, 0, 1, 2, -1])  # the last segment has no truth
    attention = torch.zeros(5, 8, 3)
    attention[:, 2, 0] = 1.0  # every segment: its one real word looks at time position 2
    stress = torch.zeros(5, 32, dtype=torch.bool)
    stress[:, 8:12] = True
    out = NetOutput(torch.zeros(5, 6), attention, attention.sum(dim=2), torch.full((5,), 8))
    metric.update(preds, target, mode, out, stress)
    out = metric.compute()
    assert out["acc_both"] == 1.0 and out["acc_prosody_only"] == 0.0 and out["acc_text_only"] == 1.0
    assert "acc_distractor" not in out  # never seen: left out rather than reported as 0
    assert out["pointing"] == pytest.approx(8.0)
    assert out["pointing_both"] == out["pointing_text_only"] == pytest.approx(8.0)
    shallow = CueMetrics(MODES, stride=1)
    shallow.update(preds, target, mode)
    assert set(shallow.compute()) == {"acc_both", "acc_prosody_only", "acc_text_only"}


def test_two_stressed_is_reported_on_its_own() -> None:
    """A two_stressed segment whose alpha splits evenly between its emotion word (marked) and its rival
    (not marked), 8 positions: pointing 4, half of what all of alpha on the emotion word scores."""
    metric = CueMetrics(MODES, stride=4)
    attention = torch.zeros(1, 8, 1)
    attention[0, [2, 5], 0] = 0.5
    stress = torch.zeros(1, 32, dtype=torch.bool)
    stress[:, 8:12] = True  # time position 2: the emotion word
    out = NetOutput(torch.zeros(1, 6), attention, attention.sum(dim=2) * 8, torch.tensor([8]))
    metric.update(
        torch.tensor([1]), torch.tensor([1]), torch.tensor([MODES.index("two_stressed")]), out, stress
    )
    got = metric.compute()
    assert got["acc_two_stressed"] == 1.0 and got["pointing_two_stressed"] == pytest.approx(4.0)
    assert "acc_both" not in got


def test_word_choice_between_the_emotion_word_and_its_rival_against_hand_worked_values() -> None:
    """Three segments of 8 positions: a two_stressed one whose alpha puts 0.6 on its emotion word (position
    2), 0.2 on its rival (5) and 0.2 elsewhere: word choice 0.6 / 0.8 = 0.75, and with another segment's
    words (0.2 and 0.6 swapped) 0.25; a 'both' segment, which has no rival, and a two_stressed one whose
    alpha touches neither word are left out. Position 5 is not stressed, so pointing stays 0.6 x 8."""
    metric = CueMetrics(MODES, stride=4)
    two = MODES.index("two_stressed")

    def output(on_word: float, on_rival: float) -> NetOutput:
        attention = torch.zeros(3, 8, 1)
        attention[:2, [2, 5, 0], 0] = torch.tensor([on_word, on_rival, 0.2])
        attention[2, 7, 0] = 1.0
        return NetOutput(torch.zeros(3, 6), attention, attention.sum(dim=2) * 8, torch.full((3,), 8))

    out = output(0.6, 0.2)
    out.shuffled = output(0.2, 0.6)
    stress, rival = torch.zeros(2, 3, 32, dtype=torch.bool)
    stress[:, 8:12] = True  # time position 2: the emotion word (the stressed word of the 'both' segment)
    rival[[0, 2], 20:24] = True  # time position 5: the rival word of the two_stressed segments
    mode = torch.tensor([two, MODES.index("both"), two])
    metric.update(
        torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long), mode, out, stress, rival
    )
    got = metric.compute()
    assert got["word_choice_two_stressed"] == pytest.approx(0.75)
    assert got["shuffled/word_choice_two_stressed"] == pytest.approx(0.25)
    assert "word_choice_both" not in got and "word_choice" not in got  # only a mode with rivals has one
    assert got["pointing_two_stressed"] == pytest.approx((0.6 * 8 + 0.0) / 2)
    own_part, shuffled_part = extra_line(got).split("other segments' words: ")
    assert "word choice two stressed 0.75" in own_part and "word choice two stressed 0.25" in shuffled_part


def test_pointing_per_mode_against_hand_worked_values() -> None:
    """Two modes, worked by hand: a 'both' segment whose alpha sits on its stressed position (8 positions,
    one stressed: pointing 8) and a 'prosody_only' one with uniform alpha (pointing 1); overall 4.5."""
    metric = CueMetrics(MODES, stride=4)
    attention = torch.zeros(2, 8, 1)
    attention[0, 2, 0] = 1.0
    attention[1, :, 0] = 1 / 8
    stress = torch.zeros(2, 32, dtype=torch.bool)
    stress[:, 8:12] = True  # time position 2
    out = NetOutput(torch.zeros(2, 6), attention, attention.sum(dim=2) * 8, torch.tensor([8, 8]))
    metric.update(torch.tensor([0, 1]), torch.tensor([0, 0]), torch.tensor([0, 1]), out, stress)
    got = metric.compute()
    assert got["pointing_both"] == pytest.approx(8.0) and got["pointing_prosody_only"] == pytest.approx(1.0)
    assert got["pointing"] == pytest.approx(4.5) and "pointing_text_only" not in got


def test_pointing_pools_segments_not_modes() -> None:
    """Overall pointing is the mean over segments, not over modes: two 'both' segments on their stressed
    position (8 each) and one uniform 'prosody_only' segment (1) give (8 + 8 + 1) / 3, not (8 + 1) / 2."""
    metric = CueMetrics(MODES, stride=4)
    attention = torch.zeros(3, 8, 1)
    attention[:2, 2, 0] = 1.0
    attention[2, :, 0] = 1 / 8
    stress = torch.zeros(3, 32, dtype=torch.bool)
    stress[:, 8:12] = True  # time position 2
    out = NetOutput(torch.zeros(3, 6), attention, attention.sum(dim=2) * 8, torch.tensor([8, 8, 8]))
    metric.update(torch.tensor([0, 0, 0]), torch.tensor([0, 0, 0]), torch.tensor([0, 0, 1]), out, stress)
    got = metric.compute()
    assert got["pointing"] == pytest.approx(17 / 3)
    assert got["pointing_both"] == pytest.approx(8.0) and got["pointing_prosody_only"] == pytest.approx(1.0)


def test_stress_past_the_real_positions_is_not_counted() -> None:
    """A segment of 4 real positions (of 8) stressed at position 2 and, past its end, at 6: only position 2
    counts, so its stressed share is 1/4 and alpha on position 2 scores 1 / (1/4) = 4 (with position 6
    counted it would be 1 / (2/4) = 2)."""
    alpha = torch.zeros(1, 8)
    alpha[0, 2] = 1.0
    stress = torch.zeros(1, 32, dtype=torch.bool)
    stress[0, 8:12] = stress[0, 24:28] = True
    assert pointing(alpha, torch.tensor([4]), stress, 4).tolist() == pytest.approx([4.0])
    uniform = torch.cat([torch.full((1, 4), 1 / 4), torch.zeros(1, 4)], dim=1)
    assert pointing(uniform, torch.tensor([4]), stress, 4).tolist() == pytest.approx([1.0])
    # a rival word only past the real positions is no rival: no word choice (rather than 1.0)
    word, rival = torch.zeros(2, 1, 32, dtype=torch.bool)
    word[0, 8:12], rival[0, 24:28] = True, True
    shares = [position_share(f, torch.tensor([4]), 8, 4) for f in (word, rival)]
    assert word_choice(alpha, *shares).isnan().all()


def test_onset_and_last_against_hand_worked_values() -> None:
    """argmax over the attended positions only, the first one being position 0."""
    from mosei_attn.models.attention_stats import AttentionStats, edges

    alpha = torch.tensor(
        [
            [0.1, 0.2, 0.3, 0.4, 0.9, 0.0],  # 4 attended: the peak is the LAST one (0.9 lies past them)
            [0.5, 0.1, 0.1, 0.1, 0.1, 0.1],  # 6 attended: the peak is the first (the onset)
            [0.2, 0.5, 0.3, 0.0, 0.0, 0.0],  # 3 attended: in the middle
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # no word: left out
        ]
    )
    n_time = torch.tensor([4, 6, 3, 2])
    onset, last, chance = edges(alpha, torch.arange(6) < n_time[:, None])
    assert onset[:3].tolist() == [0.0, 1.0, 0.0] and last[:3].tolist() == [1.0, 0.0, 0.0]
    assert chance[:3].tolist() == pytest.approx([1 / 4, 1 / 6, 1 / 3])
    assert onset[3].isnan() and last[3].isnan() and chance[3].isnan()
    clean = alpha.clone()
    clean[0, 4] = 0.0  # as the model gives it: 0 past the attended positions
    attention = clean[:, :, None]  # one word column; the wordless segment's column is all 0
    stats = AttentionStats()
    stats.update(NetOutput(torch.zeros(4, 6), attention, clean, n_time))
    got = stats.compute()
    assert got["attn_onset"] == pytest.approx(1 / 3) and got["attn_last"] == pytest.approx(1 / 3)
    assert got["attn_onset_chance"] == pytest.approx((1 / 4 + 1 / 6 + 1 / 3) / 3)


# ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return syn.write_synthetic_corpus(
        tmp_path_factory.mktemp("cues") / "corpus", n_videos=5, segments_per_video=(4, 6), seed=2
    )


def test_generator_writes_the_cue_truth_beside_the_mosei_files(corpus: Path) -> None:
    truth = read_cue_truth(corpus)
    assert truth is not None and truth.modes == MODES
    labels = json.loads((corpus / "SYNTHETIC.json").read_text())["summary"]["segments"]
    assert sum(len(v) for v in truth.videos.values()) == sum(labels.values())
    modes = [e["mode"] for v in truth.videos.values() for e in v]
    assert len(set(modes)) >= 2  # (an unknown mode is refused by read_cue_truth itself)
    for entries in truth.videos.values():
        for e in entries:
            assert all(0 <= a < b for a, b in e["stressed"])
            if e["mode"] in ("both", "prosody_only", "text_only"):
                assert e["stressed"]  # these modes always stress a word
            if e["mode"] == "two_stressed":  # the emotion word, and its rival (stressed alike) apart
                ((a, b),), ((c, d),) = e["stressed"], e["rival"]
                assert 0 <= c < d and (b <= c or d <= a)
            else:
                assert "rival" not in e


def test_truth_spans_fall_inside_their_segment_and_become_frames(corpus: Path) -> None:
    from mosei_attn.data.corpora.mosei import MoseiCorpus

    segments, _ = MoseiCorpus(corpus, corpus / "folds.json", word_dim=300).scan()
    truth = read_cue_truth(corpus)
    ids = [s.segment_id for s in segments]
    starts = np.array([s.start for s in segments])
    arrays = truth.arrays(ids, starts, hop_s=0.02, n_frames=400, center_s=0.05)
    assert (arrays["mode"] >= 0).all()
    assert arrays["rival"].any() and not (arrays["rival"] & arrays["stress"]).any()
    for i, seg in enumerate(segments):
        entry = truth.videos[seg.video_id][seg.index]
        for key, spans in (("stress", entry["stressed"]), ("rival", entry.get("rival", []))):
            for a, b in spans:
                assert seg.start - 1e-6 <= a < b <= seg.end + 1e-6
            frames = np.flatnonzero(arrays[key][i])
            if not spans:
                assert frames.size == 0
            elif seg.duration < 7.5:
                assert frames.size > 0
                a = min(s[0] for s in spans)
                assert abs(seg.start + 0.05 + frames[0] * 0.02 - a) <= 0.02 + 1e-6


def test_missing_or_broken_truth(tmp_path: Path) -> None:
    assert read_cue_truth(tmp_path) is None  # real MOSEI: no truth, no cue metrics
    (tmp_path / TRUTH_FILE).write_text('{"modes": ["both"], "videos": {"v": [{"mode": "bogus"}]}}')
    with pytest.raises(ValueError, match=TRUTH_FILE):
        read_cue_truth(tmp_path)
    (tmp_path / TRUTH_FILE).write_text('{"modes": ["both"], "videos": {"v": [{"mode": "both"')  # truncated
    with pytest.raises(ValueError, match=f"{TRUTH_FILE}: unreadable"):
        read_cue_truth(tmp_path)
    (tmp_path / TRUTH_FILE).write_text(
        '{"modes": ["both"], "videos": {"v": [{"mode": "both", "stressed": []}]}}'
    )
    assert read_cue_truth(tmp_path).modes == ("both",)  # a well-formed file is read


def test_cache_arrays_use_the_centred_frames_of_the_spectrogram(corpus: Path) -> None:
    """Frame k of the cached spectrogram is centred on start + k hops (the features pad half a window on
    each side), so a frame is stressed exactly when that centre lies inside a stressed word."""
    from types import SimpleNamespace

    from mosei_attn.data.features.extractors import AudioFeatures

    truth = read_cue_truth(corpus)
    video, entries = next((v, e) for v, e in truth.videos.items() if any(x["stressed"] for x in e))
    index = next(i for i, e in enumerate(entries) if e["stressed"])
    begin, end = entries[index]["stressed"][0]
    start = begin - 0.5
    columns = {"start": np.array([start])}
    cache = SimpleNamespace(segment_id=[f"{video}[{index}]"], column=columns.__getitem__)
    audio = AudioFeatures(hop_length=160, max_frames=400)  # 20 ms hops
    stress = truth.cache_arrays(cache, audio)["stress"][0]
    first = int(np.flatnonzero(stress)[0])
    centre = start + first * 0.02
    assert begin <= centre < begin + 0.02  # the first frame whose centre is inside the word
