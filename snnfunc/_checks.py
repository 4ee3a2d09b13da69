"""Argument checks shared by the public functions.

Every check raises ``TypeError`` or ``ValueError`` whose message names the argument, what was
expected and what was given. Checks on metadata (dtype, shape, option strings) always run; checks
on *values* (``beta in [0, 1]``, ``p in [0, 1]``) need the data and are skipped where the data is
not concrete: inside ``torch.vmap`` (batched tensors) and while ``torch.compile`` traces.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor


def is_traced(t: Tensor) -> bool:
    """True where ``t``'s values cannot be inspected eagerly (vmap, or torch.compile tracing)."""
    if torch.compiler.is_compiling():
        return True
    return bool(torch._C._functorch.is_batchedtensor(t)) or _has_batched_level(t)


def _has_batched_level(t: Tensor) -> bool:
    # Under vmap(grad(f)) the tensor is a GradTrackingTensor wrapping a BatchedTensor.
    inner = t
    for _ in range(8):
        if torch._C._functorch.is_batchedtensor(inner):
            return True
        if not torch._C._functorch.is_gradtrackingtensor(inner):
            return False
        inner = torch._C._functorch.get_unwrapped(inner)
    return False


def check_tensor(name: str, value: Any) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")


def check_floating(name: str, value: Any) -> None:
    """``value`` must be a floating-point Tensor."""
    check_tensor(name, value)
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (float16/bfloat16/float32/float64), "
            f"got dtype {value.dtype}"
        )


def check_same_shape(name: str, value: Tensor, ref_name: str, ref: Tensor) -> None:
    if value.shape != ref.shape:
        raise ValueError(
            f"{name} must have the shape of {ref_name} {tuple(ref.shape)}, got {tuple(value.shape)}"
        )


def check_broadcasts_to(name: str, value: Tensor | float, target: torch.Size) -> None:
    """``value`` (a param field) must broadcast to ``target`` without growing it."""
    if isinstance(value, (int, float)):
        return
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a float or a torch.Tensor, got {type(value).__name__}")
    try:
        out = torch.broadcast_shapes(value.shape, target)  # type: ignore[no-untyped-call]
    except RuntimeError:
        out = None
    if out != target:
        raise ValueError(
            f"{name} of shape {tuple(value.shape)} must broadcast to the input shape "
            f"{tuple(target)} (e.g. a scalar, [N] or the full shape)"
        )


def check_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    options = tuple(choices)
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")


def check_positive(name: str, value: float | Tensor) -> None:
    """A hyperparameter that must be > 0 and not NaN (float, or Tensor when concrete)."""
    if isinstance(value, Tensor):
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a float or floating-point tensor, got {value.dtype}")
        if is_traced(value):
            return
        bad = ~(value > 0)
        if bool(bad.any()):
            raise ValueError(f"{name} must be > 0 (and not NaN), got {value.detach()[bad][0]!r}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float or a tensor, got {type(value).__name__}")
    if not value > 0 or math.isnan(value):
        raise ValueError(f"{name} must be > 0 (and not NaN), got {value!r}")


def check_int_at_least(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def check_in_unit_interval(name: str, value: Tensor | float) -> None:
    """Values must lie in [0, 1] (skipped where values are not concrete)."""
    if isinstance(value, Tensor):
        if is_traced(value):
            return
        v = value.detach()
        bad = ~((v >= 0) & (v <= 1))
        if bool(bad.any()):
            raise ValueError(
                f"{name} must lie in [0, 1], got a value {v[bad].flatten()[0].item()!r}"
            )
        return
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
