"""What the synthetic corpus says: emotion and neutral words, per-emotion prosody, each segment's labels,
words and the prosody of each word; the videos' ids and folds."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from mosei_attn.data.corpora.labels import EMOTIONS, LABEL_COLUMNS
from mosei_attn.synthetic.config import ID_CHARS, MODES, SyntheticConfig

#: Word roles spoken with stress: the words whose span the cue truth records. A `rival` word (a neutral word
#: of a two_stressed segment) is stressed too, with another emotion's prosody, and is not recorded.
STRESSED_ROLES = ("stress", "neutral_stress")
#: Modes whose unstressed words are spoken neutrally: the sentence does not lean toward the label's prosody.
NEUTRAL_SENTENCE_MODES = ("text_only", "two_stressed")

EMOTION_WORDS: dict[str, tuple[str, ...]] = {
    "happy": tuple(
        "happy glad love wonderful great enjoy excited awesome fantastic delighted fun smile".split()
    ),
    "sad": tuple("sad unhappy miss lonely cry sorry depressed grief lost tears heartbroken gloomy".split()),
    "anger": tuple(
        "angry furious hate mad annoyed outraged rage ridiculous unacceptable pissed stupid "
        "infuriating".split()
    ),
    "surprise": tuple(
        "surprised wow unexpected shocked amazing incredible suddenly whoa unbelievable "
        "astonished speechless omg".split()
    ),
    "disgust": tuple(
        "disgusting gross nasty awful sick revolting horrible vile filthy yuck repulsive creepy".split()
    ),
    "fear": tuple(
        "afraid scared fear terrified nervous worried anxious frightened panic danger scary dread".split()
    ),
}
NEUTRAL_WORDS: tuple[str, ...] = tuple(
    """
the a and to of i it that is was you in for this so like on with but just they have be what we my about
not do are at one really think know there because if or can all as get go people very movie thing would
more time some out then when up them going see also well which how he she his her has had will from by an
no yes kind lot other first much make way actually pretty say said two me our were been into film right
now only these those here even most any something product video story part point after before year day
week things little back over where while still another again show look bit review character end car phone
book music school work home house table water paper window door color number letter company money game
store city street morning evening second minute question answer reason idea fact case example
""".split()
)


@dataclass(frozen=True)
class Prosody:
    """How a word is spoken: pitch (semitones over the speaker's base f0), pitch excursion within the word
    (semitones), loudness (dB), tempo (word-duration factor, > 1 is slower) and jitter (relative f0 std)."""

    pitch_st: float
    range_st: float
    gain_db: float
    tempo: float
    jitter: float

    def toward(self, other: Prosody, w: float) -> Prosody:
        """The prosody a fraction ``w`` of the way from this one to ``other``."""
        return Prosody(
            *(a + w * (b - a) for a, b in zip(vars(self).values(), vars(other).values(), strict=True))
        )


PROSODY: dict[str, Prosody] = {
    "neutral": Prosody(0.0, 2.0, 0.0, 1.0, 0.005),
    "happy": Prosody(3.0, 5.0, 3.0, 0.9, 0.01),  # moderately high, lively
    "sad": Prosody(-3.0, 1.0, -7.0, 1.35, 0.006),  # low, flat, quiet, slow
    "anger": Prosody(4.0, 4.0, 8.0, 0.88, 0.015),  # loud and high
    "surprise": Prosody(5.0, 9.0, 4.0, 1.0, 0.01),  # wide pitch range
    "disgust": Prosody(-2.0, 2.5, 1.0, 1.15, 0.012),  # low-ish, drawn out
    "fear": Prosody(5.0, 3.0, -2.0, 0.75, 0.035),  # high, fast, trembling
}
#: Sentiment (in [-3, 3]) of a segment whose dominant emotion is at full intensity.
SENTIMENT_BASE: dict[str, float] = {
    "happy": 1.6,
    "sad": -1.4,
    "anger": -1.7,
    "surprise": 0.4,
    "disgust": -1.5,
    "fear": -1.0,
}


# Labels, words, prosody of one segment -------------------------------------------------------------
MAX_THIRDS = 9  # an intensity is the mean of 3 annotators' 0-3 ratings: a multiple of 1/3 up to 9/3


def segment_labels(rng: np.random.Generator, cfg: SyntheticConfig) -> tuple[np.ndarray, int, int | None]:
    """A (7,) label row in LABEL_COLUMNS order, the dominant emotion's index and the second's (or None)."""
    emo = int(rng.choice(len(EMOTIONS), p=cfg.class_probs))
    k = 1 + int(rng.binomial(MAX_THIRDS - 1, cfg.intensity_p))
    row = np.zeros(len(LABEL_COLUMNS))
    row[1 + emo] = k / 3
    second, sentiment = None, SENTIMENT_BASE[EMOTIONS[emo]] * (1 + k / MAX_THIRDS) / 2
    if k >= 2 and rng.random() < cfg.second_emotion_prob:
        p = np.array(cfg.class_probs)
        p[emo] = 0.0
        second = int(rng.choice(len(EMOTIONS), p=p / p.sum()))
        k2 = int(rng.integers(1, k))  # strictly weaker than the dominant one
        row[1 + second] = k2 / 3
        sentiment += SENTIMENT_BASE[EMOTIONS[second]] * k2 / MAX_THIRDS
    row[0] = np.clip(np.round(3 * (sentiment + rng.normal(0, cfg.sentiment_noise))) / 3, -3, 3)
    return row.astype(np.float32), emo, second


@lru_cache(maxsize=4)
def rival_probs(class_probs: tuple[float, ...]) -> np.ndarray:
    """(E, E): row X is the distribution of a two_stressed segment's rival emotion Y when its label is X.

    Chosen so that P(label X, rival Y) = P(label Y, rival X) with the labels' own class probabilities: who
    hears only the two prosodies, and knows the class frequencies, still has a fair coin between them
    (a rival drawn uniformly would let "the more common of the two" be right 73% of the time at the default
    class_probs). Symmetric scaling of the all-ones-off-diagonal matrix to row sums ``class_probs``; it
    exists when every probability is below 0.5.
    """
    p = np.asarray(class_probs, dtype=np.float64)
    off = 1.0 - np.eye(p.size)
    d = np.sqrt(p)
    for _ in range(10_000):
        d = np.sqrt(d * p / (off @ d))
        joint = np.outer(d, d) * off
        if np.abs(joint.sum(axis=1) - p).max() < 1e-12:
            return joint / p[:, None]
    raise ValueError(f"class_probs {class_probs}: no symmetric rival pairing (every class must be below 0.5)")


def syllables(word: str, cfg: SyntheticConfig) -> int:
    """How many syllables ``word`` is spoken with."""
    return min(cfg.max_syllables, 1 + (len(word) - 1) // cfg.letters_per_syllable)


def plain_share(mode: str, cfg: SyntheticConfig) -> float:
    """How far a segment's unstressed words move toward its emotion's prosody."""
    return 0.0 if mode in NEUTRAL_SENTENCE_MODES else cfg.sentence_prosody_share


def segment_words(
    rng: np.random.Generator, cfg: SyntheticConfig, emo: int, second: int | None, zipf: np.ndarray
) -> tuple[list[str], list[str], str, tuple[int, float] | None]:
    """Words, each word's role (plain / stress / neutral_stress / flat / rival), the segment's mode, and for
    a two_stressed segment its rival's emotion index and intensity (else None)."""
    lo, hi = cfg.long_segment_words if rng.random() < cfg.long_segment_prob else cfg.words_per_segment
    n = lo + round((hi - lo) * rng.beta(*cfg.words_beta))
    words = [str(w) for w in rng.choice(NEUTRAL_WORDS, size=n, p=zipf)]
    roles = ["plain"] * n
    slots = iter(rng.permutation(n))
    mode = MODES[int(rng.choice(len(MODES), p=cfg.mode_probs))]
    rival = None

    def put(emotion: str | None, role: str) -> int:
        i = next(slots)
        if emotion is not None:
            words[i] = str(rng.choice(EMOTION_WORDS[emotion]))
        roles[i] = role
        return i

    name = EMOTIONS[emo]
    if mode in ("both", "text_only"):
        for _ in range(1 + int(rng.random() < cfg.two_emotion_words_prob)):
            put(name, "stress" if mode == "both" else "neutral_stress")
    elif mode == "prosody_only":
        put(None, "stress")  # a neutral word carries the emotion's prosody
    elif mode == "distractor":
        others = [e for i, e in enumerate(EMOTIONS) if i not in (emo, second)]
        put(str(rng.choice(others)), "flat")
        put(name if rng.random() < cfg.distractor_true_word_prob else None, "stress")
    else:  # two_stressed: the emotion word and a neutral word as long, stressed alike, in random order
        length = syllables(words[put(name, "stress")], cfg)
        i = put(None, "rival")
        alike = zipf * np.array([syllables(w, cfg) == length for w in NEUTRAL_WORDS])
        words[i] = str(rng.choice(NEUTRAL_WORDS, p=alike / alike.sum()))
        other = int(rng.choice(len(EMOTIONS), p=rival_probs(cfg.class_probs)[emo]))
        rival = other, (1 + int(rng.binomial(MAX_THIRDS - 1, cfg.intensity_p))) / 3  # as a label's intensity
    if second is not None and rng.random() < cfg.secondary_word_prob:
        put(EMOTIONS[second], "plain")
    return words, roles, mode, rival


def role_prosody(
    role: str, emotion: str, intensity: float, sentence_share: float, cfg: SyntheticConfig
) -> Prosody:
    """How a word of ``role`` is spoken in a segment of ``emotion`` at ``intensity`` (0-3). Stressed roles
    (stress, neutral_stress, rival) add the same stress (gain, pitch range, lengthening) to their base;
    a rival is given its own emotion and intensity."""
    neutral, target = PROSODY["neutral"], PROSODY[emotion]
    if role == "plain":
        return neutral.toward(target, sentence_share)
    if role == "flat":
        return replace(neutral, range_st=neutral.range_st * cfg.flat_range_factor, gain_db=cfg.flat_gain_db)
    share = cfg.word_prosody_min + (1 - cfg.word_prosody_min) * intensity / 3
    base = neutral if role == "neutral_stress" else neutral.toward(target, share)
    return replace(
        base,
        gain_db=base.gain_db + cfg.stress_gain_db,
        range_st=base.range_st + cfg.stress_range_st,
        tempo=base.tempo * cfg.stress_lengthen,
    )


def word_prosodies(
    roles: list[str],
    mode: str,
    emo: int,
    intensity: float,
    rival: tuple[int, float] | None,
    cfg: SyntheticConfig,
) -> list[Prosody]:
    """Each word's prosody in a segment of mode ``mode`` whose emotion ``emo`` has ``intensity`` (0-3): the
    rival word (two_stressed) spoken as an emotion word of the ``rival`` emotion and intensity would be."""
    share = plain_share(mode, cfg)
    out = []
    for role in roles:
        e, k = rival if role == "rival" and rival is not None else (emo, intensity)
        out.append(role_prosody(role, EMOTIONS[e], k, share, cfg))
    return out


# The corpus ---------------------------------------------------------------------------------------
def vocabulary(cfg: SyntheticConfig) -> dict[str, np.ndarray]:
    """Word -> (vector_dim,) float32: emotion words = their emotion's centroid + noise, neutral words random.

    Drawn from ``cfg.vocabulary_seed`` alone: corpora written with different seeds speak the same language
    (as real corpora share GloVe), so one can be a held-out test of a model trained on another.
    Components are rounded to 5 decimals, so the GloVe text file and the vectors csd hold the same values.
    """
    rng = np.random.default_rng(np.random.SeedSequence(cfg.vocabulary_seed).spawn(2)[1])
    d, spread = cfg.vector_dim, np.sqrt(1 + cfg.word_noise**2)  # neutral words get the same expected norm
    vecs = {w: rng.standard_normal(d) * spread for w in NEUTRAL_WORDS}
    for emotion, centroid in zip(EMOTIONS, rng.standard_normal((len(EMOTIONS), d)), strict=True):
        vecs.update({w: centroid + cfg.word_noise * rng.standard_normal(d) for w in EMOTION_WORDS[emotion]})
    return {w: np.round(v * cfg.vector_scale / spread, 5).astype(np.float32) for w, v in vecs.items()}


def count_of(n: int, fraction: float) -> int:
    return max(1, round(fraction * n)) if fraction > 0 else 0


def video_ids(rng: np.random.Generator, cfg: SyntheticConfig) -> list[str]:
    """YouTube-like 11-character ids, a few purely numeric ones, one starting with '-' (as "-3g5yACwYnA")."""
    n_numeric, ids = count_of(cfg.n_videos, cfg.numeric_id_fraction), []
    while len(ids) < cfg.n_videos:
        if len(ids) < n_numeric:
            vid = str(rng.integers(cfg.numeric_id_range[0], cfg.numeric_id_range[1]))
        else:
            vid = "".join(rng.choice(list(ID_CHARS), cfg.video_id_length))
            vid = "-" + vid[1:] if len(ids) == n_numeric else vid
        if vid not in ids:
            ids.append(vid)
    return [ids[i] for i in rng.permutation(len(ids))]


def assign_folds(rng: np.random.Generator, ids: list[str], cfg: SyntheticConfig) -> dict[str, list[str]]:
    order = [ids[i] for i in rng.permutation(len(ids))][cfg.n_unfolded_videos :]
    n_valid, n_test = (max(1, round(f * len(order))) for f in cfg.fold_fractions[1:])
    n_train = len(order) - n_valid - n_test
    if n_train < 1:
        raise ValueError(f"fold_fractions {cfg.fold_fractions} leave no training video of {cfg.n_videos}")
    return {
        "train": sorted(order[:n_train]),
        "valid": sorted(order[n_train : n_train + n_valid]),
        "test": sorted(order[n_train + n_valid :]),
    }
