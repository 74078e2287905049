"""Every argument of a config's class, with its Python default, without typing the defaults in YAML.

A config file that lists ``/signature@<package>: <class path>`` in its defaults list gets, at that package,
``_target_`` and every argument of the class (or function) with its signature default; the YAML then states
only where it departs from them. Every argument can still be set on the command line (``model.dropout=0.2``),
and the resolved config (``--cfg job``, the run's ``.hydra/config.yaml``, a checkpoint) shows every value.

``register_signatures()`` stores these nodes in Hydra's ConfigStore (group ``signature``) for every class that
a file in the config folder names that way; each entry point calls it before Hydra composes its config.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

#: The config group of the signature nodes.
GROUP = "signature"
#: Arguments a class gets from the code that builds it, never from a config: the model's data metadata and
#: its optimizer configs (``training.build.build_model``), a network's shapes (``EmotionModule``), an
#: optimizer's parameters, the corpus folder (``data.root``, which the DataModule gives its corpus, corpus
#: writer and extras; a data config that reads a folder states its ``root``).
SUPPLIED = frozenset(
    {"self", "meta", "optimizer", "scheduler", "spec_shape", "text_shape", "num_classes", "params", "root"}
)


#: What a config holds for a default it cannot hold (an object): the argument is left out of the node.
UNHELD = object()


def _plain(value: Any) -> Any:
    """``value`` as a config holds it (tuples as lists); ``UNHELD`` where a config cannot hold it."""
    if isinstance(value, tuple | list):
        items = [_plain(v) for v in value]
        return UNHELD if any(v is UNHELD for v in items) else items
    return value if value is None or isinstance(value, bool | int | float | str) else UNHELD


def signature_defaults(target: Any) -> dict[str, Any]:
    """The arguments of class or function ``target`` that a config may set, with their defaults (``???``,
    Hydra's "required", where there is none). An argument whose default a config cannot hold (an object) is
    left out: the class keeps its own default. A ``**net`` catch-all of a class with a ``net_class`` (the
    models' ``EmotionModule``) is that network's arguments."""
    out: dict[str, Any] = {}
    for name, p in inspect.signature(target).parameters.items():
        if p.kind is p.VAR_KEYWORD and hasattr(target, "net_class"):
            out |= signature_defaults(target.net_class)
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in SUPPLIED:
            value = "???" if p.default is p.empty else _plain(p.default)
            if value is not UNHELD:
                out[name] = value
    return out


def signature_node(path: str) -> dict[str, Any]:
    """The config node of the class or function at dotted ``path``: ``_target_`` and its arguments."""
    from hydra.utils import get_object

    return {"_target_": path, **signature_defaults(get_object(path))}


def named_targets(config_dir: str | Path) -> list[str]:
    """The class paths that the config files under ``config_dir`` name as ``/signature@...: <path>``."""
    from omegaconf import OmegaConf

    found = []
    for path in sorted(Path(config_dir).rglob("*.yaml")):
        for entry in OmegaConf.load(path).get("defaults") or []:
            if OmegaConf.is_dict(entry):
                found += [str(v) for k, v in entry.items() if str(k).lstrip("/").split("@")[0] == GROUP]
    return sorted(set(found))


def register_signatures(config_dir: str | Path | None = None) -> None:
    """Store the signature node of every class the config files name (see the module docstring);
    idempotent."""
    from hydra.core.config_store import ConfigStore

    from mosei_attn.config import CONFIG_DIR

    store = ConfigStore.instance()
    for path in named_targets(config_dir or CONFIG_DIR):
        store.store(group=GROUP, name=path, node=signature_node(path))
