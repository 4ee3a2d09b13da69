"""What every neuron step shares: the state initialiser and the checks at its boundary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from snnfunc._checks import (
    check_broadcasts_to,
    check_dtype_device,
    check_floating,
    check_param_like,
)
from snnfunc.reset import check_reset_options


def as_shape(shape: int | tuple[int, ...] | torch.Size) -> tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, torch.Size)) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise TypeError(f"shape must be an int or a tuple of non-negative ints, got {shape!r}")
    return tuple(shape)


def zeros_state(
    cls: Any,
    shape: int | tuple[int, ...] | torch.Size,
    dtype: torch.dtype,
    device: torch.device | str | None,
) -> Any:
    """``cls`` (a NamedTuple of tensors) with every field zero of ``shape``."""
    dtype, dev = check_dtype_device(dtype, device)
    size = as_shape(shape)
    return cls(*(torch.zeros(size, dtype=dtype, device=dev) for _ in cls._fields))


def check_step(
    model: str,
    state: NamedTuple,
    x: Tensor,
    params: NamedTuple,
    *,
    state_type: type,
    params_type: type,
    spike_fn: Callable[[Tensor], Tensor],
    reset: str,
    reset_delay: bool,
    detach_reset: bool,
    per_neuron_params: tuple[str, ...] | None = None,
) -> None:
    """Metadata checks at the boundary of a ``<model>_step`` (cheap: no data is read)."""
    check_floating("x", x)
    if not isinstance(state, tuple) or len(state) != len(state_type._fields):  # type: ignore[attr-defined]
        raise TypeError(
            f"state must be a {state_type.__name__}{state_type._fields}, "  # type: ignore[attr-defined]
            f"got {type(state).__name__}"
        )
    if not isinstance(params, tuple) or len(params) != len(params_type._fields):  # type: ignore[attr-defined]
        raise TypeError(
            f"params must be a {params_type.__name__}{params_type._fields}, "  # type: ignore[attr-defined]
            f"got {type(params).__name__}"
        )
    for name, value in zip(state_type._fields, state, strict=True):  # type: ignore[attr-defined]
        if not isinstance(value, Tensor):
            raise TypeError(f"state.{name} must be a Tensor, got {type(value).__name__}")
        if value.shape != x.shape:
            raise ValueError(
                f"state.{name} has shape {tuple(value.shape)} but x has shape {tuple(x.shape)}; "
                f"they must match (create the state with {model}_init(x.shape))"
            )
        if value.dtype != x.dtype or value.device != x.device:
            raise TypeError(
                f"state.{name} is {value.dtype} on {value.device} but x is {x.dtype} on "
                f"{x.device}; they must match"
            )
    names = per_neuron_params or params_type._fields  # type: ignore[attr-defined]
    for name in names:
        value = getattr(params, name)
        check_broadcasts_to(f"params.{name}", value, x.shape)
        check_param_like(f"params.{name}", value, x)
    if not callable(spike_fn):
        raise TypeError(f"spike_fn must be callable, got {type(spike_fn).__name__}")
    check_reset_options(reset, reset_delay, detach_reset)
