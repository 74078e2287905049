"""mosei_attn: convolutional attention networks for speech + text emotion recognition (CMU-MOSEI)."""

from mosei_attn.malloc import keep_freed_memory

__version__ = "0.1.0"

keep_freed_memory()  # before any large allocation; opt out with MOSEI_ATTN_MALLOC=0 (see mosei_attn.malloc)
