"""The import direction of docs/architecture.md: entry points -> training/ -> checkpoints/, reporting/,
models/
-> data/ -> base modules; no module imports a layer above its own, and predict and inference read checkpoints
without training/."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mosei_attn"
ENTRY_POINTS = ("train", "evaluate", "prepare", "predict", "inference", "aggregate", "dashboard")
#: Each layer, and what it must not import (the layers above it).
ABOVE = {
    "training": ENTRY_POINTS,
    "checkpoints": ("training", *ENTRY_POINTS),
    "reporting": ("training", "checkpoints", *ENTRY_POINTS),
    "models": ("training", "checkpoints", "reporting", *ENTRY_POINTS),
    "data": ("training", "checkpoints", "reporting", "models", "synthetic", *ENTRY_POINTS),
    "config": ("training", "checkpoints", "reporting", "models", "data", *ENTRY_POINTS),
}


def imports(path: Path) -> set[str]:
    """The first part below ``mosei_attn`` of every module ``path`` imports (at module level or inside)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        found |= {n.split(".")[1] for n in names if n.startswith("mosei_attn.")}
    return found


def test_no_module_imports_a_layer_above_its_own():
    wrong = []
    for layer, above in ABOVE.items():
        single = PACKAGE / f"{layer}.py"
        files = [single] if single.is_file() else sorted((PACKAGE / layer).rglob("*.py"))
        wrong += [f"{p.relative_to(PACKAGE)} -> {m}" for p in files for m in sorted(imports(p) & set(above))]
    assert wrong == []


def test_predict_and_inference_read_checkpoints_without_training():
    for name in ("predict", "inference"):
        assert "checkpoints" in imports(PACKAGE / f"{name}.py")
        assert "training" not in imports(PACKAGE / f"{name}.py"), name
