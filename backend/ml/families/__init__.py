"""The registry of model families, keyed by name.

A family is one module that subclasses `backend.ml.base.Family` and decorates the class with
`@register_family`. The built-in ones are listed in `BUILTIN` and imported on the first lookup, so
importing this registry costs nothing; a family module outside that list registers itself when it is
imported.
"""

from __future__ import annotations

import importlib
import threading
from typing import TypeVar

from backend.core.errors import AISystemError
from backend.ml.base import Family

BUILTIN = (
    "backend.ml.families.tabular_mlp",
    "backend.ml.families.text_classifier",
    "backend.ml.families.image_cnn",
)

F = TypeVar("F", bound=type[Family])

_families: dict[str, Family] = {}
_lock = threading.Lock()
_builtins_loaded = False


def register_family(cls: F) -> F:
    """Class decorator: register one instance of a `Family` subclass under its `name`."""
    if not (isinstance(cls, type) and issubclass(cls, Family)):
        raise TypeError("register_family takes a Family subclass")
    if not cls.name or not cls.tasks or any(t not in ("classification", "regression") for t in cls.tasks):
        raise ValueError(f"family {cls.__name__} needs a name and tasks among classification / regression")
    with _lock:
        existing = _families.get(cls.name)
        if existing is not None and type(existing).__qualname__ != cls.__qualname__:
            raise ValueError(f"a family named {cls.name!r} is already registered ({type(existing).__qualname__})")
        _families[cls.name] = cls()
    return cls


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    for module in BUILTIN:
        importlib.import_module(module)
    _builtins_loaded = True


def get_family(name: str) -> Family:
    """The family registered under `name`; TRAIN_003 (naming the field `family`) when there is none."""
    _load_builtins()
    family = _families.get(name) if isinstance(name, str) else None
    if family is None:
        shown = str(name)[:80]
        raise AISystemError("TRAIN_003", f"Unknown model family '{shown}'", {
            "fields": [{"field": "family", "message": f"one of {', '.join(family_names())}"}],
            "family": shown, "known": family_names()})
    return family


def family_names() -> list[str]:
    """The names of every registered family, sorted."""
    _load_builtins()
    return sorted(_families)
