"""An entry point's process setup silences Lightning's LeafSpec deprecation, and only that warning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CODE = """
import warnings
from mosei_attn.process import process_setup
process_setup()  # what every entry point runs first
from lightning.pytorch.utilities._pytree import _tree_flatten
_tree_flatten(1)  # builds a LeafSpec: Lightning's own call that warns on every run
warnings.warn("`isinstance(treespec, LeafSpec)` is fine here", UserWarning)
warnings.warn("another FutureWarning", FutureWarning)
warnings.warn("another DeprecationWarning", DeprecationWarning)
"""


def test_only_the_leafspec_deprecation_is_filtered():
    # -W default shows every warning once, as a user sees them with warnings on.
    proc = subprocess.run(
        [sys.executable, "-W", "default", "-c", CODE], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "is deprecated, use" not in proc.stderr
    for kept in ("is fine here", "another FutureWarning", "another DeprecationWarning"):
        assert kept in proc.stderr


def test_without_the_filter_lightning_does_warn():
    """The filtered message is the one Lightning emits (if torch stops warning, the filter can go)."""
    code = CODE.replace("process_setup()  # what every entry point runs first\n", "")
    proc = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert "`isinstance(treespec, LeafSpec)` is deprecated, use" in proc.stderr
