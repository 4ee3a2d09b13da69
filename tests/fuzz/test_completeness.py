"""The fuzz tables of this package cover what snnfunc's own catalogues list.

Each entry names the public functions it calls (``covers``, as ``"area.name"``); the catalogues
are read from the package (``public_catalogue``: ``BUILTIN_CELLS``, the modules' ``__all__``).
A new neuron model, surrogate, encoder, loss, ... fails this test until a fuzz entry covers it
or ``NOT_FUZZED`` says why not.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

from ._harness import MODELS, Entry, public_catalogue

NOT_FUZZED = {  # "area.name": why no fuzz entry calls it
    "surrogate.SpikeFn": "a type alias",
    "surrogate.SURROGATES": "the registry (each factory is fuzzed; tests/test_registry.py)",
    "surrogate.SurrogateSpec": "a registry record (tests/test_registry.py)",
    "surrogate.ForwardModeSpike": "tests/test_compile.py, examples/func_forward_mode.py",
    "surrogate.forward_mode_spike": "tests/test_compile.py, examples/func_forward_mode.py",
    "fused.FUSED": "the registry of fused scans (each is fuzzed; tests/test_registry.py)",
    "nn.MODULES": "the registry of layer classes (tests/test_registry.py, tests/test_nn.py)",
    "nn.BuiltinNeuron": "the base of every nn.MODULES class (tests/test_nn.py)",
    "scan.unchecked": "scan's fast path (tests/test_registry.py)",
    "scan.StepFn": "a type alias",
    "fused.Fused": "the type fuse() returns (tests/test_fuse.py)",
    "fused.Explanation": "a record of Fused.explain (tests/test_fuse.py)",
    "attacks.robust_accuracy": "runs a model over a data set (tests/test_attacks.py)",
    "nn.RLIF": "recurrent modules: their weight and steps (tests/test_recurrent.py)",
    "nn.RSynaptic": "recurrent modules: their weight and steps (tests/test_recurrent.py)",
    "nn.RAdLIF": "recurrent modules: their weight and steps (tests/test_recurrent.py)",
}


def all_entries() -> list[Entry]:
    """Every entry of every ``test_*`` module of this package."""
    package = importlib.import_module(__package__)
    entries: list[Entry] = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("test_"):
            module = importlib.import_module(f"{__package__}.{info.name}")
            entries += getattr(module, "FUZZ", [])
    return entries


def catalogue() -> set[str]:
    return {f"{area}.{name}" for area, names in public_catalogue().items() for name in names}


def test_the_catalogues_are_found() -> None:
    areas = public_catalogue()
    assert all(areas.values()), {area: list(names) for area, names in areas.items()}


@pytest.mark.parametrize("area", sorted(public_catalogue()))
def test_the_tables_cover_every_public_name(area: str) -> None:
    covered = set().union(*(e.covers for e in all_entries()))
    listed = {f"{area}.{name}" for name in public_catalogue()[area]}
    missing = sorted(listed - covered - NOT_FUZZED.keys())
    assert not missing, f"no fuzz entry covers {missing}: add one, or say why in NOT_FUZZED"


def test_every_entry_covers_listed_names_only() -> None:
    known = catalogue()
    for e in all_entries():
        assert e.covers, f"entry {e.name!r} names no public function it covers"
        assert e.covers <= known, f"entry {e.name!r} covers unknown {sorted(e.covers - known)}"
    stale = sorted(NOT_FUZZED.keys() - known)
    assert not stale, f"NOT_FUZZED names what the catalogues no longer list: {stale}"
    assert not NOT_FUZZED.keys() & set().union(*(e.covers for e in all_entries()))


def test_the_neuron_table_is_the_builtin_cells() -> None:
    """``MODELS`` (steps, ``init``, ``scan``, fused) holds every built-in model, each once."""
    names = [m.name for m in MODELS]
    assert sorted(names) == sorted(public_catalogue()["cell"]) and len(set(names)) == len(names)
