"""The convolutional attention network (paper section 2, figure 1) and its LightningModule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mosei_attn.malloc import on_forward
from mosei_attn.models.base import EmotionModule
from mosei_attn.models.blocks import (
    POOL,
    DenseHead,
    SpeechCNN,
    TextCNN,
    attended_lengths,
    length_mask,
    mask_inputs,
    mask_words,
    pooled_lengths,
    pooled_size,
)
from mosei_attn.models.output import NetOutput

#: On the CPU, a network that reads lengths only runs a batch in chunks of this many segments, sorted by
#: length, each cut to its own longest segment (:meth:`AttentionNet.chunks`): of chunks of 2, 4 and 8
#: segments and the whole batch cut at once (batch 16), 4 was the fastest (docs/benchmarks.md, "Padding the
#: network never needed to read").
CPU_CHUNK = 4
#: ``model.head``: what the dense head reads from the classifier CNN (the paper's first).
HEADS = ("flatten", "mean")
#: ``model.alpha_scale``: eq. 2's alpha as it is, or rescaled to average 1 (the paper's first).
ALPHA_SCALES = ("none", "mean_one")


class Attention(NamedTuple):
    """What :meth:`AttentionNet.attend` computes for a batch of B segments (as in :class:`NetOutput`)."""

    matrix: torch.Tensor  # the attention matrix (B, m, n): eq. 1
    alpha: torch.Tensor  # one weight per time position (B, m): eq. 2
    attended: torch.Tensor  # the real attended positions (B,)
    covered: torch.Tensor  # the positions eq. 1's softmax covers (B, m) bool
    weights: torch.Tensor  # alpha extended to the spectrogram frames (B, T)
    text: torch.Tensor  # the text CNN's features (B, K, L')


def speech_positions(speech: torch.Tensor, n_time: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """(B, size) bool: the first ``n_time`` (B,) time positions, of ``stride`` frames each, that hold at least
    one frame the voice activity detector marks as speech in ``speech`` (B, T) bool. Any one frame, not a
    share of them: a word that begins or ends in a position makes it a place the word is spoken. A segment
    with no speech frame in its first ``n_time`` positions keeps all of them (never an empty softmax)."""
    b, t = speech.shape
    frames = speech[:, : size * stride]
    if t < size * stride:  # positions past the spectrogram's frames hold no speech
        frames = torch.nn.functional.pad(frames, (0, size * stride - t))
    heard = frames.reshape(b, size, stride).any(dim=2)  # (B, size)
    real = length_mask(n_time, size)
    gated = real & heard
    return torch.where(gated.any(dim=1, keepdim=True), gated, real)


class AttentionNet(nn.Module):
    """Text-guided time attention over the spectrogram, then a CNN classifier on the attended input.

    Shapes: ``spec`` (B, 1, F, T), ``words`` (B, L, D) -> a :class:`NetOutput`: logits (B, C), the attention
    matrix (B, m, n), the time weights alpha (B, m) and the per-frame weights (B, T); the matrix has
    m = T' = T / pool^P time positions (rows) and n = L' = L / pool^text_blocks word positions (columns).
    Each real column is a softmax over the attended time positions (eq. 1); padded columns are 0.

    ``head`` chooses what the dense head reads from the classifier CNN's output (B, K, F', T'):
    ``"flatten"`` (the paper's figure 1) all of it, K * F' * T' features, so the head reads each time
    position on its own; ``"mean"`` (ours) its mean over the real time positions, K * F' features: the
    paper's "the last CNN layer computes the weighted sum of all the information extracted from the
    attention input" (section 2) read as a sum over time. The mean head cannot read a time position apart
    from the others, so alpha can only help it by weighing the frames that carry the emotion.
    ``alpha_scale`` chooses alpha's scale: ``"none"`` (the paper's eq. 2) the sum of the attention over the
    words, so alpha sums to the number of word columns; ``"mean_one"`` (ours) rescaled to average 1 over
    the positions eq. 1 covers, so the attended spectrogram keeps the plain one's level whatever the
    number of words. Either way a segment with no word column (only with ``mask_padding``) gets 1 on
    every real position: the plain spectrogram.
    ``speech_gate`` (ours, off in the paper) lets eq. 1's softmax cover only the time positions that hold
    speech by the voice activity detector's mask ``speech`` (B, T) (:func:`speech_positions`): a word is
    spoken where there is speech, not in the silence around it, and silent positions take weight 0.

    The scores are unscaled, as the paper's eq. 1 (a 1 / sqrt(d) scale was measured and removed:
    docs/choices.md). ``mask_padding`` (ours) makes the batch's padding invisible to every CNN block
    (:class:`SpeechCNN`) and lets the softmax cover only whole real time positions
    (:func:`attended_lengths`) and real word columns; off, eq. 1 runs over every position and column, as
    the paper wrote it, and the mean head averages over every position. ``text_path`` (beyond the paper) also
    feeds the text CNN's features to the dense head.
    """

    takes_other_words = True  # EmotionModule passes the swapped words to forward (``other_words``)

    def __init__(
        self,
        spec_shape: Sequence[int],
        text_shape: Sequence[int],
        num_classes: int,
        pool_blocks: int = 3,
        text_blocks: int = 1,
        kernels: int = 32,
        kernel_size: int = 3,
        pool: int = POOL,
        attn_dim: int = 64,
        dense: Sequence[int] = (1024, 512, 128),
        dropout: float = 0.1,
        mask_padding: bool = False,
        text_path: bool = False,
        speech_gate: bool = False,
        head: str = "flatten",
        alpha_scale: str = "none",
    ) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"model.head must be one of {', '.join(HEADS)}, got {head!r}")
        if alpha_scale not in ALPHA_SCALES:
            raise ValueError(
                f"model.alpha_scale must be one of {', '.join(ALPHA_SCALES)}, got {alpha_scale!r}"
            )
        self.head_kind = head
        self.alpha_scale = alpha_scale
        if not isinstance(speech_gate, bool):
            raise ValueError(
                f"model.speech_gate must be true (eq. 1 covers the positions the voice activity detector "
                f"hears as speech) or false (every position), got {speech_gate!r}"
            )
        self.mask_padding = mask_padding
        self.speech_gate = speech_gate
        self.uses_speech = speech_gate  # EmotionModule passes the batch's speech mask
        n_freq, n_time = spec_shape
        n_words, embed_dim = text_shape
        self.n_frames = n_time  # T
        self.pool_blocks = pool_blocks
        self.text_blocks = text_blocks
        self.pool = pool
        self.freq_p = pooled_size(n_freq, pool_blocks, pool)  # F'
        self.time_p = pooled_size(n_time, pool_blocks, pool)  # T' = m
        self.words_p = pooled_size(n_words, text_blocks, pool)  # L' = n
        self.speech = SpeechCNN(1, kernels, kernel_size, pool_blocks, pool)
        self.text = TextCNN(embed_dim, kernels, kernel_size, text_blocks, pool)
        # 1x1 convolutions into the shared attention space; frequency is folded into the channels.
        self.proj_speech = nn.Conv1d(kernels * self.freq_p, attn_dim, 1)
        self.proj_text = nn.Conv1d(kernels, attn_dim, 1)
        self.classifier = SpeechCNN(1, kernels, kernel_size, pool_blocks, pool)
        self.text_path = text_path
        speech_in = kernels * self.freq_p * (self.time_p if head == "flatten" else 1)  # K*F'*T' or K*F'
        head_in = speech_in + (kernels * self.words_p if text_path else 0)
        self.head = DenseHead(head_in, dense, num_classes, dropout)

    @property
    def time_stride(self) -> int:
        """Spectrogram frames per attention time position (pool^P)."""
        return self.pool**self.pool_blocks

    def speech_features(self, spec: torch.Tensor, spec_len: torch.Tensor) -> torch.Tensor:
        """For a masked ``spec`` (B, 1, F, T): the speech CNN's features in the attention space, f (B, d, T').
        They do not read the words, so one call serves every set of words (:meth:`forward`'s
        ``other_words``)."""
        feats = self.speech(spec, spec_len if self.mask_padding else None)  # (B, K, F', T')
        return self.proj_speech(feats.flatten(1, 2))  # (B, d, T')

    def attend(
        self,
        f: torch.Tensor,
        n_frames: int,
        spec_len: torch.Tensor,
        words: torch.Tensor,
        word_len: torch.Tensor,
        speech: torch.Tensor | None = None,
    ) -> Attention:
        """For the speech features ``f`` (B, d, T') of ``n_frames`` frames (:meth:`speech_features`) and
        masked ``words``: the attention matrix (B, m, n), alpha (B, m), the real attended positions (B,),
        the positions eq. 1 covers (B, m), the per-frame weights (B, T) and the text CNN's features
        (B, K, L') (:class:`Attention`). ``speech`` (B, T) bool: the frames with speech, needed by the
        speech gate."""
        text = self.text(words.transpose(1, 2), word_len if self.mask_padding else None)  # (B, K, L')
        e = self.proj_text(text)  # (B, d, L')
        scores = torch.einsum("bdt,bdi->bti", f, e)  # (B, m, n)
        m = f.shape[-1]  # time positions of this input: time_p, or fewer for a trimmed batch
        if self.mask_padding:  # whole real time positions, real word columns
            n_time = attended_lengths(spec_len, self.time_stride, m)  # (B,)
            n_word = pooled_lengths(word_len, self.text_blocks, self.words_p, self.pool)  # (B,)
        else:  # the paper's eq. 1 as written: every time position and word column, padding included
            n_time, n_word = (torch.full_like(spec_len, n) for n in (m, self.words_p))
        real = length_mask(n_time, m)  # (B, m)
        time_mask = real  # the positions eq. 1's softmax covers
        if self.speech_gate:
            if speech is None:
                raise ValueError("model.speech_gate needs the batch's speech mask `speech` (B, T) bool")
            time_mask = speech_positions(speech, n_time, m, self.time_stride)
        word_mask = length_mask(n_word, self.words_p)  # (B, n)
        scores = scores.masked_fill(~time_mask[:, :, None], float("-inf"))
        attn = scores.softmax(dim=1) * word_mask[:, None, :].to(scores.dtype)  # eq. 1, (B, m, n)
        alpha = attn.sum(dim=2)  # eq. 2: one weight per time position, (B, m); sums to n_word
        if self.alpha_scale == "mean_one":  # average 1 over the positions eq. 1 covers
            alpha = alpha * (time_mask.sum(dim=1) / n_word.clamp(min=1)).to(alpha.dtype)[:, None]
        # with no words, 1 on every real position (the plain spectrogram)
        alpha = torch.where((n_word > 0)[:, None], alpha, real.to(alpha.dtype))  # (B, m)
        weights = self.frame_weights(alpha, n_time, n_frames)  # (B, T)
        return Attention(
            matrix=attn, alpha=alpha, attended=n_time, covered=time_mask, weights=weights, text=text
        )

    def frame_weights(self, alpha: torch.Tensor, attended: torch.Tensor, n_frames: int) -> torch.Tensor:
        """(B, T): ``alpha`` (B, m) "extended" over ``n_frames`` frames: each position's weight covers its
        pool^P frames; the frames past the last of ``attended`` (B,) positions (a partly real window, or past
        T' * pool^P) reuse its weight."""
        frame = torch.arange(n_frames, device=alpha.device)
        idx = torch.div(frame, self.time_stride, rounding_mode="floor")[None, :]  # (1, T)
        idx = torch.minimum(idx, (attended - 1)[:, None])  # (B, T)
        return alpha.gather(1, idx)

    def forward(
        self,
        spec: torch.Tensor,
        spec_len: torch.Tensor,
        words: torch.Tensor,
        word_len: torch.Tensor,
        speech: torch.Tensor | None = None,
        other_words: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> NetOutput:
        """Class logits (B, C) with the attention matrix (B, m, n), alpha (B, m) and frame weights (B, T);
        ``speech`` (B, T) bool, the frames with speech, for the speech gate. ``other_words`` (words (B, L, D),
        word_len (B,)): also the result with these words in place of the segments' own, as the returned
        result's ``shuffled``; the speech CNN, which does not read the words, runs once for both."""
        on_forward()  # malloc's fast path in any caller's process (mosei_attn.malloc)
        if spec.shape[-1] != self.n_frames:
            raise ValueError(
                f"a spectrogram of {spec.shape[-1]} frames; this network reads {self.n_frames} (its data's "
                "max_frames)"
            )
        spec, words = mask_inputs(spec, spec_len, words, word_len)
        word_sets = [(words, word_len)]
        if other_words is not None:
            word_sets.append((mask_words(*other_words), other_words[1]))
        results = [
            self.output(feats, att)
            for feats, att in self.attended_features(spec, spec_len, word_sets, speech)
        ]
        if other_words is not None:
            results[0].shuffled = results[1]
        return results[0]

    def output(self, feats: torch.Tensor, att: Attention) -> NetOutput:
        """The dense head's logits on the classifier CNN's ``feats`` (with the text CNN's features beside
        them with ``text_path``), with the :class:`Attention` as a :class:`NetOutput`."""
        if self.text_path:  # beyond the paper: the shallow model's text features beside the attended speech
            feats = torch.cat([feats, att.text.flatten(1)], dim=1)  # (B, speech features + K*L')
        return NetOutput(
            logits=self.head(feats),  # (B, C)
            attention=att.matrix,
            alpha=att.alpha,
            attended=att.attended,
            weights=att.weights,
            covered=att.covered,
        )

    @property
    def reads_lengths_only(self) -> bool:
        """Whether the output depends on each segment's real frames only, not on the batch's padding: the
        padding masked (``mask_padding``) and the mean head, whose input does not grow with the frames."""
        return self.mask_padding and self.head_kind == "mean"

    def skips_padding(self, device: torch.device) -> bool:
        """Whether the network leaves the padding out (:meth:`chunks`, :meth:`trim`): where it reads lengths
        only, on the CPU. Elsewhere it reads every frame, as the paper's network does: on a GPU the chunks
        would run one after another where the batch runs in parallel, and a width that changes every batch
        makes cuDNN and ``torch.compile`` prepare each new shape (not measured there)."""
        return self.reads_lengths_only and device.type == "cpu"

    def chunks(self, spec_len: torch.Tensor, device: torch.device) -> list[torch.Tensor] | None:
        """The batch's positions in chunks of :data:`CPU_CHUNK`, shortest segments first, where the network
        skips the padding (:meth:`skips_padding`); None (the batch at once) otherwise or for a batch of at
        most one chunk."""
        if not self.skips_padding(device) or len(spec_len) <= CPU_CHUNK:
            return None
        return list(torch.argsort(spec_len, stable=True).split(CPU_CHUNK))

    def attended_features(
        self,
        spec: torch.Tensor,
        spec_len: torch.Tensor,
        word_sets: Sequence[tuple[torch.Tensor, torch.Tensor]],
        speech: torch.Tensor | None = None,
    ) -> list[tuple[torch.Tensor, Attention]]:
        """For a masked ``spec`` and each (masked words, word_len) of ``word_sets``: the classifier CNN's
        features for the dense head (B, K*F' with the mean head, K*F'*T' flattened) and the
        :class:`Attention`, computed a chunk at a time (:meth:`chunks`) and given back in the batch's order.
        Each segment's features depend only on its own inputs, so chunking changes what is computed, not its
        result."""
        chunks = self.chunks(spec_len, spec.device)
        if chunks is None:
            return self._chunk_features(spec, spec_len, word_sets, speech)
        parts = [
            self._chunk_features(
                spec[i],
                spec_len[i],
                [(words[i], word_len[i]) for words, word_len in word_sets],
                None if speech is None else speech[i],
            )
            for i in chunks
        ]
        order = torch.cat(chunks).argsort()  # each segment back to its place in the batch
        return [_in_order([part[k] for part in parts], order) for k in range(len(word_sets))]

    def _chunk_features(
        self,
        spec: torch.Tensor,
        spec_len: torch.Tensor,
        word_sets: Sequence[tuple[torch.Tensor, torch.Tensor]],
        speech: torch.Tensor | None,
    ) -> list[tuple[torch.Tensor, Attention]]:
        """:meth:`attended_features` of one chunk, on its frames up to its longest segment where the network
        skips the padding; every output at the full T' and T. The speech CNN runs once for every set of
        words."""
        n_frames = spec.shape[-1]
        if self.skips_padding(spec.device):  # frames past the chunk's longest cannot reach the output
            spec, speech = self.trim(spec, spec_len, speech)
        f = self.speech_features(spec, spec_len)
        lengths = spec_len if self.mask_padding else None
        results = []
        for words, word_len in word_sets:
            att = self.attend(f, spec.shape[-1], spec_len, words, word_len, speech)
            attended = spec * att.weights[:, None, None, :]  # broadcast over frequency, (B, 1, F, T)
            feats = self.classifier(attended, lengths)  # (B, K, F', T')
            if self.head_kind == "mean":  # "the weighted sum" over time, (B, K*F')
                feats = self.time_mean(feats, lengths).flatten(1)
            else:  # the paper's figure 1: every time position, (B, K*F'*T')
                feats = feats.flatten(1)
            pad = self.time_p - att.alpha.shape[1]  # positions trimmed off: alpha and eq. 1 are 0 there
            results.append(
                (
                    feats,
                    att._replace(
                        matrix=F.pad(att.matrix, (0, 0, 0, pad)),
                        alpha=F.pad(att.alpha, (0, pad)),
                        # past the last attended position the frames reuse its weight, as untrimmed
                        weights=F.pad(att.weights, (0, n_frames - att.weights.shape[1]), mode="replicate"),
                        covered=F.pad(att.covered, (0, pad)),
                    ),
                )
            )
        return results

    def trim(
        self, spec: torch.Tensor, spec_len: torch.Tensor, speech: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``spec`` (B, 1, F, T) and ``speech`` (B, T) cut to the whole attention positions (``time_stride``
        frames each) that hold the longest segment: the same output for a fraction of the arithmetic when
        the segments are shorter than T."""
        n_frames = spec.shape[-1]
        stride = self.time_stride
        longest = int(spec_len.max()) if spec_len.numel() else n_frames
        keep = min(max(-(-longest // stride), 1) * stride, n_frames)
        if keep == n_frames or n_frames % stride:  # nothing to cut, or T' is not a whole count of positions
            return spec, speech
        return spec[..., :keep], None if speech is None else speech[:, :keep]

    def time_mean(self, feats: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """(B, K, F', T') -> (B, K, F'): the mean over the real time positions (all of them without
        ``lengths``), so a segment's features do not depend on its length or its batch's padding. With
        ``lengths`` the classifier CNN has already set every position past them to exactly 0
        (:class:`SpeechCNN`), so their sum is the real positions' sum."""
        if lengths is None:
            return feats.mean(dim=-1)
        n_real = pooled_lengths(lengths, self.pool_blocks, feats.shape[-1], self.pool).clamp(min=1)  # (B,)
        return feats.sum(dim=-1) / n_real.to(feats.dtype)[:, None, None]  # no frames at all: 0, not NaN


def _in_order(
    parts: list[tuple[torch.Tensor, Attention]], order: torch.Tensor
) -> tuple[torch.Tensor, Attention]:
    """The chunks' (features, :class:`Attention`) joined and each segment put at its place ``order``."""
    feats = torch.cat([f for f, _ in parts])[order]
    att = Attention(*(torch.cat([a[k] for _, a in parts])[order] for k in range(len(Attention._fields))))
    return feats, att


class AttentionModule(EmotionModule):
    """LightningModule for :class:`AttentionNet`; sizes default to the paper's (section 4.2)."""

    net_class = AttentionNet
