"""mosei_attn: convolutional attention networks for speech + text emotion recognition (CMU-MOSEI)."""

import warnings

from mosei_attn.malloc import keep_freed_memory

__version__ = "0.1.0"

#: The one deprecation that Lightning's own code (its pytree helper, not ours) triggers on every run with
#: recent torch; nothing a user can act on. Only this message is silenced: every other warning still shows.
LIGHTNING_LEAFSPEC_WARNING = r"`isinstance\(treespec, LeafSpec\)` is deprecated"

warnings.filterwarnings("ignore", message=LIGHTNING_LEAFSPEC_WARNING, category=FutureWarning)

keep_freed_memory()  # before any large allocation; opt out with MOSEI_ATTN_MALLOC=0 (see mosei_attn.malloc)
