"""The paper's own figures (real MOSEI), in one place: Tables 1-2 (validation) and its class counts."""

from __future__ import annotations

from typing import Any

#: The paper's validation figures (Tables 1-2; real MOSEI, its validation split), shown beside ours.
PAPER_RESULTS: dict[str, dict[str, float]] = {
    "shallow": {"wa": 0.8311, "ua": 0.7723},
    "attention": {"wa": 0.8889, "ua": 0.8408},
}
#: The split the paper's figures are on: ours from the same split are the ones to set beside them.
PAPER_SPLIT = "val"
#: The paper's per-class (precision, recall, F1) of Tables 1-2, by our emotion names.
PAPER_PER_CLASS: dict[str, dict[str, tuple[float, float, float]]] = {
    "shallow": {
        "sad": (0.82, 0.65, 0.73),
        "happy": (0.93, 0.88, 0.91),
        "anger": (0.75, 0.90, 0.82),
        "disgust": (0.75, 0.75, 0.75),
        "surprise": (0.98, 0.55, 0.70),
        "fear": (0.83, 0.63, 0.72),
    },
    "attention": {
        "sad": (0.88, 0.86, 0.87),
        "happy": (0.92, 0.92, 0.92),
        "anger": (0.85, 0.92, 0.88),
        "disgust": (0.88, 0.81, 0.84),
        "surprise": (0.98, 0.62, 0.76),
        "fear": (0.94, 0.65, 0.77),
    },
}
#: The paper's class counts (section 3.1), by our emotion names; how it chose one class is not said.
PAPER_CLASS_COUNTS: dict[str, int] = {
    "happy": 10028,
    "sad": 2843,
    "anger": 6794,
    "surprise": 349,
    "disgust": 1845,
    "fear": 817,
}


def paper_comparison(results: dict[str, Any], names: tuple[str, ...], model_name: str) -> str:
    """Our figures on the validation split beside the paper's (per class when the classes are MOSEI's six and
    the figures single-label); empty when the paper has no such model."""
    paper, per_class = PAPER_RESULTS.get(model_name), PAPER_PER_CLASS.get(model_name, {})
    if not paper:
        return ""
    lines = [f"ours (validation) beside the paper ({model_name}, real MOSEI validation, Tables 1-2):"]
    if set(names) == set(per_class) and "confusion" in results:
        width = max(len(n) for n in names)
        lines.append(f"{'':<{width}}  {'precision':>15}  {'recall':>15}  {'f-1 score':>15}")
        lines.append(f"{'':<{width}}" + "  {:>7} {:>7}".format("ours", "paper") * 3)
        for i, n in enumerate(names):
            ours = (results["precision"][i], results["recall"][i], results["f1"][i])
            lines.append(
                f"{n:<{width}}"
                + "".join(f"  {o:>7.2f} {p:>7.2f}" for o, p in zip(ours, per_class[n], strict=True))
            )
    lines.append(f"class accuracy (UA) {100 * float(results['ua']):6.2f}%  paper {100 * paper['ua']:.2f}%")
    lines.append(f"overall acc. (WA)   {100 * float(results['wa']):6.2f}%  paper {100 * paper['wa']:.2f}%")
    return "\n".join(lines)
