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


def as_shape(shape: int | tuple[int, ...] | torch.Size) -> tuple[int, ...]:
    """A shape argument as a tuple of non-negative ints (an int ``N`` is ``(N,)``)."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, torch.Size)) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise TypeError(f"shape must be an int or a tuple of non-negative ints, got {shape!r}")
    return tuple(shape)


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


def check_positive(name: str, value: float | Tensor, *, finite: bool = False) -> None:
    """A hyperparameter that must be > 0 and not NaN (float, or Tensor when concrete).

    With ``finite=True`` it must also be finite (``inf`` turns surrogate derivatives into NaN).
    """
    what = "> 0 and finite" if finite else "> 0 (and not NaN)"
    if isinstance(value, Tensor):
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a float or floating-point tensor, got {value.dtype}")
        if is_traced(value):
            return
        v = value.detach()
        bad = ~(v > 0) | (v.isinf() if finite else torch.zeros_like(v, dtype=torch.bool))
        if bool(bad.any()):
            raise ValueError(f"{name} must be {what}, got {v[bad].flatten()[0].item()!r}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float or a tensor, got {type(value).__name__}")
    if not value > 0 or math.isnan(value) or (finite and math.isinf(value)):
        raise ValueError(f"{name} must be {what}, got {value!r}")


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


def check_param_like(name: str, value: Any, x: Tensor) -> None:
    """A param tensor must not change the dtype or device of a step's output (metadata only).

    Floats and ints pass. A Tensor passes when ``torch.result_type(value, x) == x.dtype`` (so a
    0-d float64 tensor with float32 ``x`` is fine: 0-d tensors do not promote) and lives on
    ``x``'s device (or is a 0-d CPU tensor, which PyTorch moves for free).
    """
    if not isinstance(value, Tensor):
        return
    # torch.result_type(value, x) != x.dtype, written so that torch.compile can trace it: a 0-d
    # tensor beside a dimensioned x promotes only from a higher category (complex here).
    if value.dim() == 0 and x.dim() > 0:
        promotes = value.is_complex()
    else:
        promotes = torch.promote_types(value.dtype, x.dtype) != x.dtype
    if promotes:
        raise TypeError(
            f"{name} is {value.dtype} of shape {tuple(value.shape)} but x is {x.dtype}; it would "
            f"change the output dtype: pass {name} as {x.dtype} (value.to(x.dtype)) or as a float"
        )
    if value.device != x.device and not (value.dim() == 0 and value.device.type == "cpu"):
        raise TypeError(f"{name} is on {value.device} but x is on {x.device}; they must match")


def check_dtype_device(
    dtype: Any, device: Any, *, floating: bool = True
) -> tuple[torch.dtype, torch.device | None]:
    """Validate the ``dtype=`` and ``device=`` keywords of a constructor (``*_init``)."""
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype (e.g. torch.float32), got {dtype!r}")
    if floating and not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
    if device is None:
        return dtype, None
    if not isinstance(device, (str, int, torch.device)) or isinstance(device, bool):
        raise TypeError(
            f"device must be a str, int or torch.device (e.g. 'cpu', 'cuda:0'), got {device!r}"
        )
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"device must name a torch device (e.g. 'cpu', 'cuda:0'), got {device!r}"
        ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available here")
    return dtype, dev


def check_class_output(
    name: str, out: Tensor, targets: Tensor, *, num_classes: int | None = None
) -> None:
    """``out: [T, B, C]`` floating, ``targets: [B]`` integer class indices.

    With ``num_classes=K`` (a population code, see :func:`snnfunc.loss.population_code`) ``C``
    must be a multiple of ``K`` and the targets lie in ``[0, K)``; otherwise in ``[0, C)``.
    """
    check_floating(name, out)
    check_tensor("targets", targets)
    if out.dim() != 3:
        raise ValueError(f"{name} must be [T, B, C] (time, batch, classes), got {tuple(out.shape)}")
    if targets.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
        raise TypeError(f"targets must hold integer class indices, got dtype {targets.dtype}")
    if targets.shape != out.shape[1:2]:
        raise ValueError(
            f"targets must be [B] = [{out.shape[1]}] to match {name} {tuple(out.shape)}, "
            f"got {tuple(targets.shape)}"
        )
    classes = out.shape[2]
    if num_classes is not None:
        check_int_at_least("num_classes", num_classes, 1)
        if classes % num_classes:
            raise ValueError(
                f"num_classes must divide the C = {classes} outputs of {name} (a population of "
                f"C / num_classes neurons per class), got {num_classes}"
            )
        classes = num_classes
    if targets.numel() and not is_traced(targets):  # values: eager only (see snnfunc._checks)
        bad = (targets < 0) | (targets >= classes)
        if bool(bad.any()):
            raise ValueError(
                f"targets must be class indices in [0, C) = [0, {classes}), "
                f"got {targets[bad][0].item()}"
            )


def check_class_weight(weight: Any, classes: int, like: Tensor) -> None:
    """``weight``: ``None`` or a floating ``[C]`` tensor of class weights on ``like``'s device."""
    if weight is None:
        return
    check_floating("weight", weight)
    if weight.shape != (classes,):
        raise ValueError(
            f"weight must be [C] = [{classes}] (one weight per class), got {tuple(weight.shape)}"
        )
    if weight.device != like.device:
        raise TypeError(f"weight is on {weight.device} but the output is on {like.device}")


def first_step(xs: Tensor, num_steps: int | None) -> Tensor:
    """One step of ``xs`` (``xs[0]``, or ``xs`` itself when static), checked: a floating tensor with
    a time dim of at least one step, or a positive int ``num_steps``."""
    check_floating("xs", xs)
    if num_steps is not None:
        check_int_at_least("num_steps", num_steps, 1)
        return xs
    if xs.dim() == 0:
        raise ValueError(
            "xs must have a leading time dim [T, ...]; got a 0-d tensor "
            "(pass num_steps= for a static input)"
        )
    if xs.shape[0] < 1:
        raise ValueError("xs must have at least one time step (T >= 1), got T = 0")
    return xs[0]
