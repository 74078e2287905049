"""What the package's entry points set for their own process, not at import: a user who imports
:mod:`mosei_attn` into their own code keeps their malloc settings and warning filters.

:func:`process_setup` runs first in every ``main()`` (train, evaluate, predict, prepare, aggregate, dashboard,
the synthetic corpus CLI), in the test session (tests/conftest.py) and, through :func:`worker_setup`, in
every DataLoader worker (a forked worker inherits it anyway; a spawned one would not).
"""

from __future__ import annotations

import logging
import os
import warnings

from mosei_attn.malloc import keep_freed_memory

#: The one deprecation that Lightning's own code (its pytree helper, not ours) triggers on every run with
#: recent torch; nothing a user can act on. Only this message is silenced: every other warning still shows.
LIGHTNING_LEAFSPEC_WARNING = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
#: Lightning's advertisement for its hosted logger, printed by every run that has another logger; the
#: logger that prints it, and how the line begins.
LIGHTNING_ADVERT_LOGGER, LIGHTNING_ADVERT = "lightning.pytorch.utilities.rank_zero", "💡 Tip:"


def _not_an_advert(record: logging.LogRecord) -> bool:
    """False for Lightning's advertisement line, which a run's log should not carry."""
    return not str(record.msg).startswith(LIGHTNING_ADVERT)


def process_setup() -> None:
    """Silence Lightning's LeafSpec deprecation and its hosted-logger advertisement, and keep freed memory
    in glibc's heap (:mod:`mosei_attn.malloc`; opt out with ``MOSEI_ATTN_MALLOC=0``); idempotent."""
    warnings.filterwarnings("ignore", message=LIGHTNING_LEAFSPEC_WARNING, category=FutureWarning)
    advert = logging.getLogger(LIGHTNING_ADVERT_LOGGER)
    if _not_an_advert not in advert.filters:
        advert.addFilter(_not_an_advert)
    keep_freed_memory()  # before any large allocation


def worker_setup(worker_id: int) -> None:
    """A DataLoader worker's ``worker_init_fn``: :func:`process_setup`, then Lightning's per-worker seeding
    when ``seed_everything(workers=True)`` asked for it (Lightning adds its own only where a loader has
    none)."""
    process_setup()
    if int(os.environ.get("PL_SEED_WORKERS", "0")):
        from lightning.fabric.utilities.seed import pl_worker_init_function

        pl_worker_init_function(worker_id)
