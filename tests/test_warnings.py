"""An entry point's process setup silences Lightning's LeafSpec deprecation and its hosted-logger
advertisement, and only those."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from mosei_attn.process import LIGHTNING_ADVERT, LIGHTNING_ADVERT_LOGGER

REPO = Path(__file__).resolve().parent.parent

#: Lightning's own call that warns on every run (it builds a LeafSpec), before and after the process setup
#: every entry point runs first, then three other warnings after it; a line on stderr parts the two.
CODE = """
import sys, warnings
from lightning.pytorch.utilities._pytree import _tree_flatten
from mosei_attn.process import process_setup
_tree_flatten(1)
print("=== set up", file=sys.stderr, flush=True)
warnings.simplefilter("default")  # changes the filters: a warning shown already would be shown again
process_setup()
_tree_flatten(1)
warnings.warn("`isinstance(treespec, LeafSpec)` is fine here", UserWarning)
warnings.warn("another FutureWarning", FutureWarning)
warnings.warn("another DeprecationWarning", DeprecationWarning)
"""


def test_only_the_leafspec_deprecation_is_filtered_and_lightning_does_emit_it():
    """Without the filter Lightning warns (if torch stops warning, the filter can go); with it that one
    message is gone and every other warning stays. Python shows a warning it has shown already again once
    the filters change, which the script makes sure of, so the second call is a fair test of the filter."""
    # -W default shows every warning once, as a user sees them with warnings on.
    proc = subprocess.run(
        [sys.executable, "-W", "default", "-c", CODE], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    before, after = proc.stderr.split("=== set up")
    assert "`isinstance(treespec, LeafSpec)` is deprecated, use" in before
    assert "is deprecated, use" not in after
    for kept in ("is fine here", "another FutureWarning", "another DeprecationWarning"):
        assert kept in after


def trainer_info(tmp_path, caplog) -> list[str]:
    """The info lines a Trainer with a CSV logger prints when it is built."""
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.utilities.rank_zero import rank_zero_info

    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LIGHTNING_ADVERT_LOGGER):
        L.Trainer(logger=CSVLogger(tmp_path), enable_progress_bar=False, accelerator="cpu")
        rank_zero_info("another line of Lightning's")
    return [r.getMessage() for r in caplog.records]


def test_lightnings_hosted_logger_advert_is_dropped_and_only_it(tmp_path, caplog, monkeypatch):
    from mosei_attn import process

    process.process_setup()  # (the test session's conftest ran it already: idempotent)
    lines = trainer_info(tmp_path, caplog)
    assert "another line of Lightning's" in lines
    assert not [s for s in lines if LIGHTNING_ADVERT in s]
    monkeypatch.setattr(logging.getLogger(LIGHTNING_ADVERT_LOGGER), "filters", [])
    assert [s for s in trainer_info(tmp_path, caplog) if s.startswith(LIGHTNING_ADVERT)]  # what it drops
