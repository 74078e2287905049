"""The synthetic corpus: speech-like audio, words and labels written in the real CMU-MOSEI on-disk layout.

``python -m mosei_attn.synthetic ROOT [--videos N] [--seed S]`` writes one; ``data=synthetic`` writes it on
first use. The reader in :mod:`mosei_attn.data` reads it exactly as it reads real MOSEI.
"""

from mosei_attn.synthetic.config import SyntheticConfig
from mosei_attn.synthetic.writer import read_stamp, write_synthetic_corpus

__all__ = ["SyntheticConfig", "read_stamp", "write_synthetic_corpus"]
