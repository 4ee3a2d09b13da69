"""The models with a fused scan, as the fused-scan tests use them: read from the registries
(:data:`snnfunc.neurons.MODELS`, :data:`snnfunc.fused.FUSED`), so a model that gains a fused
scan is tested with no edit here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from snnfunc.fused import FUSED
from snnfunc.neurons import MODELS


@dataclass(frozen=True)
class Model:
    name: str
    fused: Any
    step: Any
    state: type
    params: type
    param_names: tuple[str, ...]

    def __str__(self) -> str:
        return self.name


FUSED_MODELS = [
    Model(name, FUSED[name], m.step, m.state_type, m.params_type, tuple(m.params))
    for name, m in MODELS.items()
    if name in FUSED
]
