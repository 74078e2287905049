"""The textbook build of the model blocks (conv -> ReLU -> pool on contiguous NCHW tensors, ReLU not in
place): the reference that the fast default path of :mod:`mosei_attn.models.blocks` is checked against
(tests/test_models.py, tests/test_speed_paths.py) and the ``plain`` side of ``benchmarks/train_step.py``.

Each reference class replaces only the one step its fast block overrides; the masking around it and the
parameters are the same objects, so :func:`to_reference` turns a built network into its reference twin.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mosei_attn.models.blocks import DenseHead, SpeechCNN, TextCNN


class ReferenceSpeechCNN(SpeechCNN):
    """:class:`SpeechCNN` with conv -> ReLU -> pool on NCHW tensors."""

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def _block(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.relu(F.conv2d(x, weight, bias, padding="same")), self.pool)


class ReferenceTextCNN(TextCNN):
    """:class:`TextCNN` with conv -> ReLU -> pool."""

    def _block(self, x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
        return F.max_pool1d(F.relu(conv(x)), self.pool)


class ReferenceDenseHead(DenseHead):
    """:class:`DenseHead` with an out-of-place ReLU."""

    def _activate(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x)


REFERENCE = {SpeechCNN: ReferenceSpeechCNN, TextCNN: ReferenceTextCNN, DenseHead: ReferenceDenseHead}


def to_reference(net: nn.Module) -> nn.Module:
    """``net`` (a network or a single block) with every block switched, in place, to its reference class and
    its 2-D convolution weights to contiguous NCHW memory; parameters and state-dict keys unchanged."""
    for module in net.modules():
        if type(module) in REFERENCE:
            module.__class__ = REFERENCE[type(module)]
            if isinstance(module, SpeechCNN):
                module.to(memory_format=torch.contiguous_format)
    return net
