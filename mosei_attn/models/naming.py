"""Short model names (run folders, logger tags, report headers) from a model config."""

from __future__ import annotations

from typing import Any


def model_name(model_cfg: Any) -> str:
    """Short model name of a model config: its ``_target_`` ``...AttentionModule`` -> ``attention``, and
    ``attention_text`` with the direct text path (``text_path: true``)."""
    name = str(model_cfg["_target_"]).rsplit(".", 1)[-1].removesuffix("Module").lower()
    return name + ("_text" if model_cfg.get("text_path") else "")
