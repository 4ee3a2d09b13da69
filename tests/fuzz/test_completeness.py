"""The fuzz tables of this package cover the public API."""

from __future__ import annotations

import importlib
import pkgutil

from ._harness import MODELS, Entry


def all_entries() -> list[Entry]:
    """Every entry of every ``test_*`` module of this package."""
    package = importlib.import_module(__package__)
    entries: list[Entry] = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("test_"):
            module = importlib.import_module(f"{__package__}.{info.name}")
            entries += getattr(module, "FUZZ", [])
    return entries


def test_the_table_covers_the_core_public_api() -> None:
    names = {e.name for e in all_entries()}
    want = {f"{m.name}_step" for m in MODELS} | {
        "surrogate",
        "init",
        "scan",
        "sequential",
        "apply_reset",
    }
    assert want <= names
