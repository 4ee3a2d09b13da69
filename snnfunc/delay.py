r"""Learnable fractional transmission delays on spike trains ``[T, ...]``.

A delay of :math:`d = k + f` steps (:math:`k = \lfloor d \rfloor`, :math:`f \in [0, 1)`)
shifts a train by linear interpolation between the two nearest integer shifts:

.. math:: y[t] = (1 - f)\, x[t - k] + f\, x[t - k - 1], \qquad x[s] = 0 \text{ for } s < 0,

with gradients

.. math:: \frac{\partial y[t]}{\partial d} = x[t - k - 1] - x[t - k], \qquad
          \frac{\partial y[t]}{\partial x[s]} = (1 - f)\,[s = t - k] + f\,[s = t - k - 1].

At an integer :math:`d` the derivative is the one-sided (right) one, since
:math:`\lfloor d \rfloor` jumps there. ``0 <= d <= max_delay`` with ``max_delay`` a static int:
the stepwise form keeps the last ``max_delay + 1`` inputs.

Why linear interpolation: it is DCLS (Hammouamri, Khalfaoui-Hassani and Masquelier, ICLR 2024)
with a triangle kernel one step wide. An integer delay is an exact shift, so spikes stay spikes
(a Gaussian kernel blurs every spike over several steps, also at inference), each delay costs two
taps rather than a kernel as long as ``max_delay``, and the stepwise form is a plain history of
past inputs. The price: the gradient to ``d`` sees only the neighbouring steps of ``x``; in a
network the downstream membrane's leak spreads the loss's gradient over time, which is what
trains the delays (see the coincidence task in ``examples/delay_coincidence.py``). A Gaussian
kernel whose width anneals to one step (DCLS's recipe) is the alternative when that is not
enough.

Per channel or per synapse, by broadcasting: ``delay`` broadcasts against ``x.shape[1:]``,
so ``delay [N]`` with ``x [T, B, N]`` delays each channel, and ``delay [O, I]`` with
``x[..., None, :]`` (``[T, B, 1, I]``) gives every synapse its own delay (``[T, B, O, I]``);
:func:`delayed_linear` does the latter followed by the weights in one ``conv1d``.

- :func:`fractional_delay`: layerwise, ``[T, ...] -> [T, ...]``.
- :func:`delay_init`, :func:`delay_step`: stepwise, ``(state, x [...]) -> (y, state)`` for
  :func:`snnfunc.scan`, equal to :func:`fractional_delay` bit for bit.
- :func:`delayed_linear`: per-synapse delays and weights, ``[T, ..., I] -> [T, ..., O]``.

Delays must stay in ``[0, max_delay]`` (else ``ValueError``); clamp learnable ones after each
optimiser step: ``with torch.no_grad(): d.clamp_(0, max_delay)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import torch
from torch import Tensor

from snnfunc._checks import (
    as_shape,
    check_dtype_device,
    check_floating,
    check_int_at_least,
    is_traced,
)

__all__ = [
    "DelayParams",
    "DelayState",
    "fractional_delay",
    "delay_init",
    "delay_step",
    "delayed_linear",
]


class DelayParams(NamedTuple):
    """Delay parameters."""

    delay: Tensor  # [...] delays in steps, in [0, max_delay]; broadcastable against x [..., N]


class DelayState(NamedTuple):
    """The last ``max_delay + 1`` inputs, newest first: ``history[j] = x[t - 1 - j]``."""

    history: Tensor  # [max_delay + 1, ...] (the shape of one step's x)


def _check_delay(delay: Any, x: Tensor, max_delay: int, *, trailing: torch.Size) -> torch.Size:
    """Metadata (always) and values (when concrete) of ``delay``; the broadcast shape."""
    check_floating("delay", delay)
    if delay.dtype != x.dtype or delay.device != x.device:
        raise TypeError(
            f"delay is {delay.dtype} on {delay.device} but x is {x.dtype} on {x.device}; "
            f"they must match"
        )
    try:
        shape: torch.Size = torch.broadcast_shapes(trailing, delay.shape)  # type: ignore[no-untyped-call]
    except RuntimeError:
        raise ValueError(
            f"delay of shape {tuple(delay.shape)} must broadcast against x's shape per step "
            f"{tuple(trailing)} (e.g. [N] per channel, or [O, I] with x[..., None, :] per synapse)"
        ) from None
    if len(shape) > len(trailing):
        raise ValueError(
            f"delay of shape {tuple(delay.shape)} has more dims than x per step {tuple(trailing)}; "
            f"add the missing dims to x (e.g. x[..., None, :] for per-synapse delays)"
        )
    if not is_traced(delay):
        d = delay.detach()
        bad = ~((d >= 0) & (d <= max_delay))  # NaN is bad too
        if bool(bad.any()):
            raise ValueError(
                f"delay must lie in [0, max_delay={max_delay}] steps, got "
                f"{d[bad].flatten()[0].item()!r} (clamp learnable delays after each update)"
            )
    return shape


def _split(delay: Tensor) -> tuple[Tensor, Tensor]:
    """``(k, f)``: integer part (int64, no gradient) and fractional part (gradient 1)."""
    whole = torch.floor(delay)
    return whole.detach().to(torch.int64), delay - whole


def fractional_delay(x: Tensor, delay: Tensor, *, max_delay: int) -> Tensor:
    r"""Delay spike trains by (fractional, learnable) ``delay`` steps.

    .. math:: y[t] = (1 - f)\, x[t - k] + f\, x[t - k - 1],\quad d = k + f,\quad
              x[s < 0] = 0

    >>> import torch
    >>> x = torch.tensor([[1.0], [0.0], [0.0], [0.0]])
    >>> fractional_delay(x, torch.tensor([1.25]), max_delay=2).flatten()
    tensor([0.0000, 0.7500, 0.2500, 0.0000])

    Args:
        x: ``[T, ...]`` time-major input, floating point.
        delay: delays in steps, broadcastable against ``x.shape[1:]`` (``[N]`` per channel),
            values in ``[0, max_delay]``, dtype and device of ``x``.
        max_delay: the largest delay allowed, in steps (static).
    Returns:
        ``[T, *broadcast(x.shape[1:], delay.shape)]``; the input's last ``d`` steps fall off
        the end.
    """
    check_floating("x", x)
    if x.dim() < 1 or x.shape[0] < 1:
        raise ValueError(f"x must be [T, ...] with T >= 1 steps, got shape {tuple(x.shape)}")
    check_int_at_least("max_delay", max_delay, 0)
    shape = _check_delay(delay, x, max_delay, trailing=x.shape[1:])
    steps = x.shape[0]
    reach = min(max_delay, steps)  # a delay >= T gives zeros: no history beyond T is needed
    k, f = _split(delay)
    k = k.clamp(max=reach)
    padded = torch.cat([x.new_zeros((reach + 1, *x.shape[1:])), x])
    padded = padded.expand(steps + reach + 1, *shape)
    t = torch.arange(steps, device=x.device).view(steps, *([1] * len(shape)))
    now = (t + reach + 1 - k).expand(steps, *shape)  # index of x[t - k] in padded
    return (1 - f) * padded.gather(0, now) + f * padded.gather(0, now - 1)


def delay_init(
    shape: int | tuple[int, ...] | torch.Size,
    *,
    max_delay: int,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> DelayState:
    """Empty history (zeros) for inputs of ``shape`` per step (``(B, N)``, or ``(N,)`` per
    example): ``history`` is ``[max_delay + 1, *shape]``."""
    check_int_at_least("max_delay", max_delay, 0)
    dtype, dev = check_dtype_device(dtype, device)
    return DelayState(torch.zeros((max_delay + 1, *as_shape(shape)), dtype=dtype, device=dev))


def _delay_core(state: DelayState, x: Tensor, params: DelayParams) -> tuple[Tensor, DelayState]:
    raw = torch.cat([x.unsqueeze(0), state.history])  # raw[j] = x[t - j], j = 0 .. max_delay + 1
    k, f = _split(params.delay)
    shape = torch.broadcast_shapes(x.shape, params.delay.shape)  # type: ignore[no-untyped-call]
    recent = raw.expand(raw.shape[0], *shape)
    now = k.expand(shape).unsqueeze(0)
    y = (1 - f) * recent.gather(0, now)[0] + f * recent.gather(0, now + 1)[0]
    return y, DelayState(raw[:-1])


def delay_step(state: DelayState, x: Tensor, params: DelayParams) -> tuple[Tensor, DelayState]:
    r"""One step of :func:`fractional_delay`: ``(y[t], state)`` from ``x[t]``.

    .. math:: y[t] = (1 - f)\, x[t - k] + f\, x[t - k - 1]

    ``max_delay`` is the state's: ``state.history.shape[0] - 1``. Under :func:`snnfunc.scan`
    with ``partial(delay_step, params=...)`` the checks run on the first step only.

    Args:
        state: :class:`DelayState`, ``history [max_delay + 1, ...]`` of x's shape per step.
        x: ``[...]`` this step's input (``[B, N]``).
        params: :class:`DelayParams`; ``delay`` broadcastable against ``x``.
    Returns:
        ``(y, state)``; ``y`` of the broadcast shape of ``x`` and ``delay``.
    """
    check_floating("x", x)
    if not isinstance(state, DelayState):
        raise TypeError(f"state must be a DelayState (from delay_init), got {type(state).__name__}")
    if not isinstance(params, DelayParams):
        raise TypeError(f"params must be DelayParams, got {type(params).__name__}")
    history = state.history
    if history.dim() < 1 or history.shape[1:] != x.shape or history.dtype != x.dtype:
        raise ValueError(
            f"state.history must be [max_delay + 1, *x.shape] with x.shape = {tuple(x.shape)}, "
            f"of x's dtype {x.dtype}; got {history.dtype} {tuple(history.shape)} "
            f"(make it with delay_init(x.shape, max_delay=...))"
        )
    _check_delay(params.delay, x, history.shape[0] - 1, trailing=x.shape)
    return _delay_core(state, x, params)


def _bind_unchecked(**keywords: Any) -> Callable[..., Any] | None:
    # scan's fast path for partial(delay_step, params=...): the loop runs the unchecked core.
    if set(keywords) != {"params"}:
        return None
    return partial(_delay_core, params=keywords["params"])


setattr(delay_step, "bind_unchecked", _bind_unchecked)  # noqa: B010 (a function attribute)


def delayed_linear(x: Tensor, weight: Tensor, delay: Tensor, *, max_delay: int) -> Tensor:
    r"""A linear layer whose every synapse has its own learnable delay.

    .. math:: y_o[t] = \sum_i w_{oi} \big((1 - f_{oi})\, x_i[t - k_{oi}]
              + f_{oi}\, x_i[t - k_{oi} - 1]\big)

    That is ``einsum("...oi,oi->...o", fractional_delay(x[..., None, :], delay), weight)``
    without the ``[T, ..., O, I]`` intermediate: the delays and weights form a temporal kernel
    of ``max_delay + 2`` taps, applied as one causal ``conv1d``.

    Args:
        x: ``[T, ..., I]`` input spikes, floating point.
        weight: ``[O, I]``.
        delay: ``[O, I]`` delays in steps, in ``[0, max_delay]``.
        max_delay: the largest delay allowed, in steps (static).
    Returns:
        ``[T, ..., O]``.
    """
    check_floating("x", x)
    check_floating("weight", weight)
    if x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(f"x must be [T, ..., I] with T >= 1 steps, got shape {tuple(x.shape)}")
    if weight.dim() != 2 or weight.shape[1] != x.shape[-1]:
        raise ValueError(
            f"weight must be [O, I] with I = x.shape[-1] = {x.shape[-1]}, got {tuple(weight.shape)}"
        )
    if delay.shape != weight.shape:
        raise ValueError(
            f"delay must have weight's shape {tuple(weight.shape)} (one per synapse), got "
            f"{tuple(getattr(delay, 'shape', ()))}"
        )
    check_int_at_least("max_delay", max_delay, 0)
    _check_delay(delay, x, max_delay, trailing=weight.shape)
    steps, lead, inputs = x.shape[0], x.shape[1:-1], x.shape[-1]
    reach = min(max_delay, steps)  # lags >= T only meet the zero padding
    k, f = _split(delay)
    taps = torch.arange(reach + 2, device=x.device).view(-1, 1, 1)
    kernel = weight * ((1 - f) * (taps == k) + f * (taps == k + 1))  # [J, O, I]: lag j
    signal = x.reshape(steps, math.prod(lead), inputs).permute(1, 2, 0)  # [B', I, T]
    signal = torch.nn.functional.pad(signal, (reach + 1, 0))
    out = torch.nn.functional.conv1d(signal, kernel.flip(0).permute(1, 2, 0))  # [B', O, T]
    return out.permute(2, 0, 1).reshape(steps, *lead, weight.shape[0])
