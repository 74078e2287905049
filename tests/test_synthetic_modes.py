"""The synthetic corpus's cue modes as drawn: their shares, their labels, and the two_stressed mode's design
(two words stressed alike, in either order, as long as each other, the rival's emotion a fair coin)."""

from __future__ import annotations

import numpy as np
import pytest

from mosei_attn.data.corpora.labels import EMOTIONS
from mosei_attn.synthetic import content
from mosei_attn.synthetic.config import MODES, SyntheticConfig

N_DRAWS = 8_000
CFG = SyntheticConfig()


@pytest.fixture(scope="module")
def draws() -> list[tuple]:
    """(label row, emotion, words, roles, mode, rival) of N_DRAWS segments as the generator scripts them."""
    rng = np.random.default_rng(5)
    zipf = 1.0 / (np.arange(len(content.NEUTRAL_WORDS)) + CFG.zipf_offset)
    zipf /= zipf.sum()
    out = []
    for _ in range(N_DRAWS):
        row, emo, second = content.segment_labels(rng, CFG)
        out.append((row, emo, *content.segment_words(rng, CFG, emo, second, zipf)))
    return out


def _of_mode(draws: list[tuple], mode: str) -> list[tuple]:
    return [d for d in draws if d[4] == mode]


def test_two_stressed_has_its_own_share_and_the_others_keep_their_proportions():
    probs = dict(zip(MODES, CFG.mode_probs, strict=True))
    assert probs["two_stressed"] == pytest.approx(0.15)
    others = np.array([probs[m] for m in ("both", "prosody_only", "text_only", "distractor")])
    np.testing.assert_allclose(others / others.sum(), [0.55, 0.15, 0.15, 0.15])


def test_mode_shares_and_labels_as_configured(draws):
    sigma = np.sqrt(0.25 / N_DRAWS)
    for mode, p in zip(MODES, CFG.mode_probs, strict=True):
        segments = _of_mode(draws, mode)
        assert abs(len(segments) / N_DRAWS - p) < 4 * sigma, mode
        labels = np.bincount([d[1] for d in segments], minlength=len(EMOTIONS)) / len(segments)
        np.testing.assert_allclose(labels, CFG.class_probs, atol=4 * np.sqrt(0.25 / len(segments)))


def test_two_stressed_words_are_an_emotion_word_and_a_neutral_word_as_long_in_either_order(draws):
    segments = _of_mode(draws, "two_stressed")
    first = 0
    for _, emo, words, roles, _, rival in segments:
        assert roles.count("stress") == roles.count("rival") == 1 and "neutral_stress" not in roles
        word, other = words[roles.index("stress")], words[roles.index("rival")]
        assert word in content.EMOTION_WORDS[EMOTIONS[emo]] and other in content.NEUTRAL_WORDS
        assert content.syllables(word, CFG) == content.syllables(other, CFG)  # no longer, no shorter
        assert rival is not None and rival[0] != emo and rival[1] * 3 in range(1, 10)
        first += roles.index("stress") < roles.index("rival")
    assert abs(first / len(segments) - 0.5) < 4 * np.sqrt(0.25 / len(segments))
    assert all(d[5] is None for d in draws if d[4] != "two_stressed")


def test_both_words_get_the_same_stress(draws):
    """The emotion word and the rival are spoken as stressed emotion words of their own emotions: the same
    gain, pitch range and lengthening over their emotion's prosody at their intensity, unstressed."""
    neutral, segments = content.PROSODY["neutral"], _of_mode(draws, "two_stressed")[:200]
    assert len(segments) == 200
    for row, emo, _, roles, mode, rival in segments:
        prosodies = content.word_prosodies(roles, mode, emo, float(row[1 + emo]), rival, CFG)
        stress = []
        for (e, k), role in zip(((emo, row[1 + emo]), rival), ("stress", "rival"), strict=True):
            p = prosodies[roles.index(role)]
            share = CFG.word_prosody_min + (1 - CFG.word_prosody_min) * k / 3
            base = neutral.toward(content.PROSODY[EMOTIONS[e]], share)
            stress.append((p.gain_db - base.gain_db, p.range_st - base.range_st, p.tempo / base.tempo))
            assert (p.pitch_st, p.jitter) == pytest.approx((base.pitch_st, base.jitter))
        assert stress[0] == pytest.approx(stress[1])
        assert stress[0] == pytest.approx((CFG.stress_gain_db, CFG.stress_range_st, CFG.stress_lengthen))
        plain = [p for p, r in zip(prosodies, roles, strict=True) if r == "plain"]
        assert all(p == neutral for p in plain)  # the sentence does not lean toward the label


def test_the_rival_emotion_leaves_a_fair_coin_between_the_two_prosodies(draws):
    """Who hears both prosodies and knows the class frequencies cannot do better than chance: a label X
    with rival Y is as frequent as label Y with rival X. (With a rival drawn uniformly among the other
    emotions, "the more common of the two" would be right 73% of the time.)"""
    q = content.rival_probs(CFG.class_probs)
    joint = np.asarray(CFG.class_probs)[:, None] * q
    np.testing.assert_allclose(joint, joint.T, atol=1e-12)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert np.all(np.diag(q) == 0)
    segments = _of_mode(draws, "two_stressed")
    p = np.asarray(CFG.class_probs)
    prior_pick = np.mean([p[emo] > p[rival[0]] for _, emo, _, _, _, rival in segments])
    assert abs(prior_pick - 0.5) < 4 * np.sqrt(0.25 / len(segments))


def test_a_class_of_half_or_more_has_no_fair_rival():
    with pytest.raises(ValueError, match="two_stressed"):
        SyntheticConfig(class_probs=(0.5, 0.1, 0.1, 0.1, 0.1, 0.1))
    SyntheticConfig(class_probs=(0.5, 0.1, 0.1, 0.1, 0.1, 0.1), mode_probs=(0.55, 0.15, 0.15, 0.15, 0.0))
