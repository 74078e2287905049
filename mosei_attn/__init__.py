"""mosei_attn: convolutional attention networks for speech + text emotion recognition (CMU-MOSEI)."""

__version__ = "0.1.0"
