r"""Spike encoders: rate, latency, delta (send-on-delta) and population codes.

Every encoder is a pure function of its input (randomness is an argument) and is
shape-polymorphic: ``x`` of any shape ``[...]`` gives spikes ``[T, ...]`` (time-major), so one
example ``[N]`` and a batch ``[B, N]`` go through the same code, and ``torch.func.vmap`` over the
batch gives the batched result (``tests/test_encode.py`` checks each).

* :func:`rate`: Bernoulli(``gain * x``) spikes each step; straight-through gradient (``gain``
  per step). snnTorch: ``spikegen.rate``.
* :func:`latency`: one spike per element, brighter = earlier (RC-charging or linear time);
  surrogate gradient (the spike linearly interpolated between steps). snnTorch:
  ``spikegen.latency``.
* :func:`delta`: signed level crossings of a signal (send-on-delta), decoded by
  :func:`delta_decode`; no gradient (piecewise constant). snnTorch: ``spikegen.delta``\*.
* :func:`population`: Gaussian receptive fields, intensities ``[..., M]`` for :func:`rate` or
  :func:`latency`; exact gradient.

\* snnTorch's ``delta`` compares each sample with the previous one, so a slow drift never spikes
and the signal cannot be decoded; ours quantises the signal to levels ``threshold`` apart and
spikes on every level crossed, so :func:`delta_decode` reconstructs it to within the threshold.

Checks: metadata (dtype, ``num_steps``, options) is always checked; values (``x`` in [0, 1],
spikes falling after the window) only where the data is concrete, i.e. not under ``vmap`` or
``torch.compile`` (there, out-of-range probabilities act as clipped to [0, 1], and NaN gives NaN
spikes, following the package's NaN policy).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from snnfunc._checks import (
    check_broadcasts_to,
    check_floating,
    check_in_unit_interval,
    check_int_at_least,
    check_param_like,
    check_positive,
    is_traced,
)
from snnfunc.bernoulli import (
    _bits16,
    _sample,
    _transform_active,
    straight_through_bernoulli,
)
from snnfunc.surrogate import SpikeFn, boxcar

__all__ = ["rate", "latency", "latency_times", "delta", "delta_decode", "population"]

_COMPACT_DTYPES = (torch.bool, torch.uint8)
LATENCY_SURROGATE = boxcar(0.5)
"""The default ``spike_fn`` of :func:`latency`: the spike train is linearly interpolated between
the two steps around the spike time (see :func:`latency`)."""


def _check_unit_interval(name: str, x: Tensor) -> None:
    """``x`` in [0, 1] (NaN fails), read in one pass (``aminmax``); skipped where traced.

    One reduction instead of the ~5 elementwise passes of a mask-based check: on a busy machine
    every multi-threaded pass over ``x`` can cost a scheduler slice.
    """
    if is_traced(x) or x.numel() == 0:
        return
    low, high = torch.aminmax(x.detach())
    if not (bool(low >= 0) and bool(high <= 1)):
        check_in_unit_interval(name, x)  # the slow path finds and names a bad value
        raise ValueError(
            f"{name} must lie in [0, 1], got values from {low.item()} to {high.item()}"
        )


def _check_float_option(name: str, value: object, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        lower = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{name} must be a finite float{lower}, got {value!r}")
    return value


# --- rate ------------------------------------------------------------------------------------
def rate(
    x: Tensor,
    num_steps: int,
    *,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
    out_dtype: torch.dtype | None = None,
) -> Tensor:
    r"""Rate (Bernoulli/Poisson) code: ``x [...]`` in [0, 1] -> spikes ``[T, ...]``.

    .. math:: z_t = \mathbb{1}[u_t < \text{gain}\cdot x],\qquad
              \frac{\partial z_t}{\partial x} := \text{gain}\quad (t = 0..T-1)

    so ``grad(lambda x: rate(x, T).sum())(x) == gain * T`` elementwise (straight-through, see
    :mod:`snnfunc.bernoulli`). ``gain * x`` above 1 spikes every step (as snnTorch clips).

    Noise: with ``noise=None`` the spikes are drawn from ``generator`` (or the default one) as
    16-bit uniform integers, four per 64-bit draw, compared with ``p`` quantised to 16 bits: the
    spike probability is exact at 0 and 1 and within ``2**-17`` of ``p`` elsewhere; this is ~2x
    faster than ``torch.rand(...) < p`` on a CPU, where random-number generation is the cost.
    Inside a torch.func transform the noise is drawn with ``torch.rand`` instead (vmap then needs
    ``randomness="same"`` or ``"different"``). Pass ``noise`` (float uniform [0, 1), shape
    ``[T, *x.shape]``) for full precision, your own noise, or vmap without a randomness flag.

    Args:
        x: intensities in [0, 1], floating point, any shape ``[...]``.
        num_steps: ``T >= 1``.
        gain: spike probability per unit of ``x``, ``>= 0``.
        generator: the generator to draw the noise from.
        noise: uniform noise ``[T, *x.shape]`` in [0, 1) (instead of ``generator``).
        out_dtype: ``None`` (``x.dtype``) or a floating dtype: differentiable {0, 1} floats;
            ``torch.bool`` or ``torch.uint8``: compact spikes, not differentiable.
    Returns:
        Spikes ``[T, *x.shape]``.

    Raises:
        TypeError: ``x``/``noise`` not floating point, ``num_steps`` not an int.
        ValueError: ``num_steps < 1``; ``x`` outside [0, 1] (eager only); ``noise`` of the wrong
            shape; both ``noise`` and ``generator``; an unsupported ``out_dtype``.

    >>> import torch
    >>> rate(torch.tensor([0.0, 1.0]), 3)
    tensor([[0., 1.],
            [0., 1.],
            [0., 1.]])
    """
    check_floating("x", x)
    check_int_at_least("num_steps", num_steps, 1)
    gain = _check_float_option("gain", gain, minimum=0.0)
    _check_unit_interval("x", x)
    if out_dtype is not None and not (
        isinstance(out_dtype, torch.dtype)
        and (out_dtype.is_floating_point or out_dtype in _COMPACT_DTYPES)
    ):
        raise ValueError(
            f"out_dtype must be None, a floating dtype, torch.bool or torch.uint8, got {out_dtype}"
        )
    shape = (num_steps, *x.shape)
    if noise is not None:
        if generator is not None:
            raise ValueError("pass either noise or generator, not both")
        check_floating("noise", noise)
        if tuple(noise.shape) != shape:
            raise ValueError(
                f"noise must have shape [num_steps, *x.shape] = {list(shape)}, "
                f"got {list(noise.shape)}"
            )
        u = noise
    elif _transform_active():
        u = torch.rand(shape, generator=generator, dtype=x.dtype, device=x.device)
    else:
        u = _bits16(shape, generator, x.device)
    p = x if gain == 1.0 else x * gain
    if out_dtype is None or out_dtype.is_floating_point:
        z = straight_through_bernoulli(p, u)
        return z if out_dtype is None else z.to(out_dtype)
    with torch.no_grad():
        return _sample(p, u, out_dtype)


# --- latency ---------------------------------------------------------------------------------
def _rc_time(x: Tensor, tau: float, threshold: float, epsilon: float) -> Tensor:
    xc = torch.clamp(x, min=threshold + epsilon)
    return tau * torch.log(xc / (xc - threshold))


def latency_times(
    x: Tensor,
    num_steps: int,
    *,
    tau: float = 1.0,
    threshold: float = 0.01,
    linear: bool = False,
    normalize: bool = False,
    first_spike_time: int = 0,
    epsilon: float = 1e-7,
) -> Tensor:
    r"""Continuous spike times of :func:`latency` (snnTorch's ``latency_code``). ``[...] -> [...]``.

    RC charging (``linear=False``): a unit RC circuit driven by ``x`` reaches ``threshold`` at

    .. math:: t = \tau \ln\frac{x'}{x' - \vartheta} + t_0,\qquad x' = \max(x, \vartheta + \epsilon)

    Linear (``linear=True``): :math:`t = \tau\,(1 - \max(x, \vartheta)) + t_0`.

    ``normalize=True`` stretches the times so the latest *possible* spike lands on step ``T - 1``:
    linear uses :math:`\tau = T - 1 - t_0`; RC scales :math:`t - t_0` by
    :math:`(T - 1 - t_0) / t_{\max}` with :math:`t_{\max} = \tau \ln((\vartheta+\epsilon)/\epsilon)`
    (an input at or below threshold). snnTorch divides by the largest time *in the batch*
    instead; the two agree whenever the batch holds an input below threshold (e.g. a black
    pixel), and ours keeps each example independent of the rest of the batch (so vmap agrees).

    Differentiable in ``x`` (the ``max``/clamp has zero gradient below threshold). Computed in
    float32 for float16/bfloat16 ``x`` (``threshold + epsilon`` rounds to ``threshold`` there,
    which would make the latest time infinite); the result is then float32.
    """
    check_floating("x", x)
    check_int_at_least("num_steps", num_steps, 1)
    tau = _check_float_option("tau", tau)
    check_positive("tau", tau)
    threshold = _check_float_option("threshold", threshold)
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold!r}")
    epsilon = _check_float_option("epsilon", epsilon)
    check_positive("epsilon", epsilon)
    check_int_at_least("first_spike_time", first_spike_time, 0)
    if first_spike_time > num_steps - 1:
        raise ValueError(
            f"first_spike_time must be <= num_steps - 1 = {num_steps - 1}, got {first_spike_time}"
        )
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    if linear:
        if normalize:
            tau = float(num_steps - 1 - first_spike_time)
        return torch.clamp_max(-tau * (x - 1), -tau * (threshold - 1)) + first_spike_time
    t = _rc_time(x, tau, threshold, epsilon)
    if first_spike_time > 0:
        t = t + first_spike_time
    if normalize:
        # the latest possible time (an input at or below threshold), in x's dtype as snnTorch
        at_threshold = torch.full((), threshold, dtype=x.dtype, device=x.device)
        t_max = _rc_time(at_threshold, tau, threshold, epsilon)
        span = num_steps - first_spike_time - 1
        t = (t - first_spike_time) * span / t_max + first_spike_time
    return t


def latency(
    x: Tensor,
    num_steps: int,
    *,
    tau: float = 1.0,
    threshold: float = 0.01,
    linear: bool = False,
    normalize: bool = False,
    clip: bool = False,
    first_spike_time: int = 0,
    epsilon: float = 1e-7,
    spike_fn: SpikeFn = LATENCY_SURROGATE,
) -> Tensor:
    r"""Latency (time-to-first-spike) code: ``x [...]`` in [0, 1] -> spikes ``[T, ...]``.

    Each element spikes once, at step ``k = round(t)`` with ``t`` from :func:`latency_times`
    (brighter = earlier; ``torch.round``, half to even, as snnTorch's ``spikegen.latency``).
    With ``clip=True`` elements below ``threshold`` do not spike at all.

    Semantics, per element::

        t = latency_times(x, T, ...)
        z = zeros(T); z[round(t)] = 1              # one spike (none if clip and x < threshold)

    Gradient: the spike train is relaxed to cumulative steps, ``c_k = H(k + 1/2 - t)`` (has
    fired by step ``k``) and ``z_k = c_k - c_{k-1}``, with ``spike_fn``'s surrogate for ``H``.
    With the default ``boxcar(0.5)`` this is linear interpolation of the spike between the steps
    around ``t``: :math:`\partial L/\partial t = g_{\lfloor t\rfloor+1} - g_{\lfloor t\rfloor}`
    (``g`` the upstream gradient over time; 0 past the window), chained with ``dt/dx``.

    Works under ``vmap`` (no data-dependent control flow). snnTorch's ``latency`` does not:
    it reads ``torch.max(data)`` and calls ``scatter`` on data-dependent indices.

    Args:
        x: intensities in [0, 1], floating point, any shape ``[...]``.
        num_steps: ``T >= 1``.
        tau, threshold, linear, normalize, first_spike_time, epsilon: see :func:`latency_times`.
        clip: no spike for inputs below ``threshold`` (else they spike at the latest time).
        spike_fn: the surrogate for the cumulative step (gradient only; the forward is exact).
    Returns:
        Spikes ``[T, *x.shape]`` in {0, 1}, dtype of ``x``.

    Raises:
        TypeError, ValueError: bad dtypes/options; ``x`` outside [0, 1]; a (non-clipped) spike
            after step ``T - 1``: raise ``num_steps``, lower ``tau`` or pass ``normalize=True``
            (value checks only where the data is concrete; under vmap late spikes are dropped).

    >>> import torch
    >>> latency(torch.tensor([0.02, 0.5, 1.0]), 5, linear=True, normalize=True).T
    tensor([[0., 0., 0., 0., 1.],
            [0., 0., 1., 0., 0.],
            [1., 0., 0., 0., 0.]])
    """
    t = latency_times(
        x,
        num_steps,
        tau=tau,
        threshold=threshold,
        linear=linear,
        normalize=normalize,
        first_spike_time=first_spike_time,
        epsilon=epsilon,
    )
    if not callable(spike_fn):
        raise TypeError(f"spike_fn must be callable, got {type(spike_fn).__name__}")
    _check_unit_interval("x", x)
    keep = x >= threshold if clip else None
    step_index = torch.round(t.detach())
    if not is_traced(x):
        late = step_index > num_steps - 1
        if keep is not None:
            late = late & keep
        if bool(late.any()):
            latest = step_index[late].max().item()  # may be inf where x's dtype overflows
            latest = int(latest) if math.isfinite(latest) else latest
            raise ValueError(
                f"a spike falls at step {latest}, after the last step num_steps - 1 = "
                f"{num_steps - 1}: raise num_steps, lower tau, or pass normalize=True"
            )
    k = torch.arange(num_steps, dtype=t.dtype, device=x.device).view(num_steps, *([1] * x.dim()))
    hard = step_index == k
    if keep is not None:
        hard = hard & keep
    z = torch.where(torch.isnan(t.detach()), t.detach(), hard.to(t.dtype))  # NaN stays NaN
    if torch.is_grad_enabled() and t.requires_grad:
        fired_by = spike_fn(k + 0.5 - t)  # [T, ...]
        soft = torch.diff(fired_by, dim=0, prepend=torch.zeros_like(fired_by[:1]))
        if keep is not None:
            soft = soft * keep
        z = z + (soft - soft.detach())
    return z if z.dtype == x.dtype else z.to(x.dtype)  # float16/bfloat16 x: times in float32


# --- delta -----------------------------------------------------------------------------------
def _reference(name: str, value: Tensor | float, xs: Tensor) -> Tensor | float:
    if isinstance(value, Tensor):
        check_floating(name, value)
        check_broadcasts_to(name, value, xs.shape[1:])
        check_param_like(name, value, xs)
        return value
    return _check_float_option(name, value)


def delta(
    xs: Tensor,
    *,
    threshold: float,
    off_spike: bool = False,
    initial: Tensor | float = 0.0,
) -> Tensor:
    r"""Send-on-delta (level-crossing) code: signal ``[T, ...]`` -> signed spikes ``[T, ...]``.

    The signal is quantised to levels :math:`\ell_t = \lfloor (x_t - r_0)/\vartheta \rfloor`
    around the reference ``initial`` :math:`r_0`, and a spike reports each level crossed:

    .. math:: z_t = \ell_t - \ell_{t-1},\quad \ell_{-1} = 0

    so a rise by ``threshold`` past the last transmitted level gives +1, a fall gives -1
    (``off_spike=True``), and a jump across ``k`` levels in one step gives ``±k`` (a graded
    spike; with per-step changes below ``threshold`` spikes are in {-1, 0, 1}).
    :func:`delta_decode` inverts it: :math:`0 \le x_t - \hat x_t < \vartheta`.

    With ``off_spike=False`` only rises are sent: the levels ratchet,
    :math:`\ell_t = \max(0, \max_{s \le t} \lfloor (x_s - r_0)/\vartheta \rfloor)`, spikes are
    ``>= 0``, and the decode tracks the running maximum of the signal.

    Not differentiable (piecewise constant: zero gradient). Shape-polymorphic and vmap-safe.

    Args:
        xs: the signal, time-major ``[T, ...]``, floating point.
        threshold: the level spacing ``> 0``.
        off_spike: also send falls (negative spikes).
        initial: the reference level :math:`r_0`, a float or a tensor broadcastable to
            ``xs.shape[1:]``.
    Returns:
        Spikes ``[T, ...]`` (integral values), dtype of ``xs``.

    >>> import torch
    >>> delta(torch.tensor([0.0, 0.3, 1.1, 1.2, 0.4]), threshold=0.5, off_spike=True)
    tensor([ 0.,  0.,  2.,  0., -2.])
    """
    check_floating("xs", xs)
    if xs.dim() < 1:
        raise ValueError("xs must have a leading time dim [T, ...], got a 0-d tensor")
    threshold = _check_float_option("threshold", threshold)
    check_positive("threshold", threshold)
    reference = _reference("initial", initial, xs)
    levels = torch.floor((xs - reference) / threshold)
    if not off_spike:
        levels = torch.cummax(levels.clamp(min=0), dim=0).values
    return torch.diff(levels, dim=0, prepend=torch.zeros_like(levels[:1]))


def delta_decode(spikes: Tensor, *, threshold: float, initial: Tensor | float = 0.0) -> Tensor:
    r"""Reconstruct a signal from :func:`delta` spikes. ``[T, ...] -> [T, ...]``.

    .. math:: \hat x_t = r_0 + \vartheta \sum_{s \le t} z_s

    Use the ``threshold`` and ``initial`` given to :func:`delta`.
    """
    check_floating("spikes", spikes)
    if spikes.dim() < 1:
        raise ValueError("spikes must have a leading time dim [T, ...], got a 0-d tensor")
    threshold = _check_float_option("threshold", threshold)
    check_positive("threshold", threshold)
    reference = _reference("initial", initial, spikes)
    return reference + threshold * torch.cumsum(spikes, dim=0)


# --- population ------------------------------------------------------------------------------
def population(
    x: Tensor,
    num_neurons: int,
    *,
    low: float = 0.0,
    high: float = 1.0,
    sigma: float | None = None,
) -> Tensor:
    r"""Gaussian receptive-field population code: ``x [...]`` -> intensities ``[..., M]``.

    ``M = num_neurons`` neurons have centres :math:`c_j` evenly spaced over ``[low, high]``:

    .. math:: a_j(x) = \exp\!\left(-\frac{(x - c_j)^2}{2\sigma^2}\right) \in (0, 1]

    (``sigma`` defaults to the spacing of the centres). The output is an intensity in (0, 1],
    ready for :func:`rate` or :func:`latency`. Differentiable; shape-polymorphic.

    Args:
        x: values, floating point, any shape ``[...]`` (need not lie in ``[low, high]``).
        num_neurons: ``M >= 1``.
        low, high: the range the centres span, ``low < high``.
        sigma: the width ``> 0`` of each field; default ``(high - low) / (M - 1)``
            (``high - low`` for one neuron).
    Returns:
        ``[*x.shape, M]``, dtype of ``x``.

    >>> import torch
    >>> population(torch.tensor([0.0, 1.0]), 3)
    tensor([[1.0000, 0.6065, 0.1353],
            [0.1353, 0.6065, 1.0000]])
    """
    check_floating("x", x)
    check_int_at_least("num_neurons", num_neurons, 1)
    low = _check_float_option("low", low)
    high = _check_float_option("high", high)
    if not low < high:
        raise ValueError(f"low must be < high, got low={low!r}, high={high!r}")
    if sigma is None:
        sigma = (high - low) / max(num_neurons - 1, 1)
    sigma = _check_float_option("sigma", sigma)
    check_positive("sigma", sigma)
    centres = torch.linspace(low, high, num_neurons, dtype=x.dtype, device=x.device)
    return torch.exp(-0.5 * ((x.unsqueeze(-1) - centres) / sigma) ** 2)
