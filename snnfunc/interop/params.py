r"""Time constants and the options that make snnfunc's neurons match other libraries'.

snnfunc's neurons are discrete: a decay per step (``beta``, ``alpha``). Continuous-time models
(NIR, Norse) give a time constant :math:`\tau` and an integration step :math:`dt`. The decay of
one step depends on how the ODE :math:`\tau \dot v = -v + \dots` is discretised:

==================  ==================================  ==========================================
``discretization``  decay per step                       used by
==================  ==================================  ==========================================
``"euler"``         :math:`1 - dt/\tau`                  Norse, snnTorch's and Norse's NIR exchange
``"exp"``           :math:`\exp(-dt/\tau)`               exact for an input held over the step
==================  ==================================  ==========================================

In both schemes the input enters scaled by ``1 - decay`` (that is ``dt/tau`` for Euler), so a
neuron's *input gain* is ``(1 - decay) * R`` for a resistance ``R``.

The ``*_matching`` functions return a :class:`PeerNeuron`: the snnfunc step, its params, its static
options and the input scale that reproduce one neuron of another library (tested spike for spike in
``tests/test_parity_norse.py`` and ``tests/test_parity_spikingjelly.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import torch
from torch import Tensor

from snnfunc._checks import check_choice, check_positive
from snnfunc.compose import Layer, neuron, stateless
from snnfunc.neurons import LIFParams, SynapticParams, lif_step, synaptic_step
from snnfunc.surrogate import sigmoid, superspike

Discretization = Literal["euler", "exp"]
DISCRETIZATIONS: tuple[str, ...] = ("euler", "exp")

__all__ = [
    "Discretization",
    "PeerNeuron",
    "decay_from_tau",
    "tau_from_decay",
    "norse_lif_matching",
    "norse_lif_box_matching",
    "spikingjelly_lif_matching",
]


def _check_dt(dt: float) -> None:
    if isinstance(dt, bool) or not isinstance(dt, (int, float)):
        raise TypeError(f"dt must be a float (the integration step), got {type(dt).__name__}")
    check_positive("dt", float(dt))


def decay_from_tau(
    tau: Tensor | float, dt: float, *, discretization: Discretization = "euler"
) -> Tensor | float:
    r"""Decay per step of :math:`\tau \dot v = -v`: ``1 - dt/tau`` (Euler) or ``exp(-dt/tau)``.

    Args:
        tau: time constant(s), ``> 0`` (Euler needs ``tau >= dt`` for a decay in [0, 1]).
        dt: integration step, same unit as ``tau``.
        discretization: ``"euler"`` or ``"exp"``.
    Returns:
        The decay, a float or a Tensor of ``tau``'s shape.

    >>> decay_from_tau(10e-3, 1e-3), round(decay_from_tau(10e-3, 1e-3, discretization="exp"), 6)
    (0.9, 0.904837)
    """
    _check_dt(dt)
    check_choice("discretization", discretization, DISCRETIZATIONS)
    check_positive("tau", tau)
    if discretization == "euler":
        return 1 - dt / tau
    if isinstance(tau, Tensor):
        return torch.exp(-dt / tau)
    return math.exp(-dt / tau)


def tau_from_decay(
    decay: Tensor | float, dt: float, *, discretization: Discretization = "euler"
) -> Tensor | float:
    r"""Inverse of :func:`decay_from_tau`: ``dt / (1 - decay)`` or ``-dt / log(decay)``.

    Args:
        decay: per-step decay(s) in ``[0, 1)`` (``1`` means no leak: no finite time constant;
            ``0`` has none for ``"exp"``).
        dt: integration step.
        discretization: ``"euler"`` or ``"exp"``.
    Returns:
        The time constant, a float or a Tensor of ``decay``'s shape.

    >>> tau_from_decay(0.9, 1e-3)
    0.010000000000000002
    """
    _check_dt(dt)
    check_choice("discretization", discretization, DISCRETIZATIONS)
    values = decay.detach() if isinstance(decay, Tensor) else torch.tensor(float(decay))
    low = 0.0 if discretization == "euler" else math.ulp(0.0)
    if bool(((values < low) | (values >= 1) | values.isnan()).any()):
        bound = "[0, 1)" if discretization == "euler" else "(0, 1)"
        raise ValueError(
            f"decay must lie in {bound} to have a finite time constant "
            f"({discretization!r} discretisation), got {decay!r}"
        )
    if discretization == "euler":
        return dt / (1 - decay)
    if isinstance(decay, Tensor):
        return -dt / torch.log(decay)
    return -dt / math.log(decay)


@dataclass(frozen=True)
class PeerNeuron:
    """An snnfunc neuron that reproduces another library's neuron.

    Run it as ``step(state, input_scale * x, params, **options)``; :meth:`layers` gives the same as
    :func:`snnfunc.sequential` layers. The other library's membrane is ``ours + v_offset``.
    """

    step: Any  # snnfunc.lif_step or snnfunc.synaptic_step
    params: LIFParams | SynapticParams
    options: dict[str, Any] = field(default_factory=dict)  # reset, reset_delay, detach_reset, ...
    input_scale: float = 1.0  # multiply the other library's input by this
    v_offset: float = 0.0  # their membrane = our membrane + v_offset

    def layers(self) -> tuple[Layer, ...]:
        """``(scale, neuron)`` layers, or ``(neuron,)`` when ``input_scale == 1``."""
        cell = neuron(self.step, self.params, **self.options)
        if self.input_scale == 1.0:
            return (cell,)
        return (stateless(partial(torch.mul, other=self.input_scale)), cell)


def _float(name: str, value: Any) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        return float(value.item())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}")
    return float(value)


def norse_lif_matching(
    *,
    tau_syn_inv: float = 200.0,
    tau_mem_inv: float = 100.0,
    v_th: float = 1.0,
    v_leak: float = 0.0,
    v_reset: float = 0.0,
    dt: float = 1e-3,
    surrogate_alpha: float = 1.0,
) -> PeerNeuron:
    r"""Norse's ``lif_feed_forward_step`` (current-based LIF) as :func:`snnfunc.synaptic_step`.

    Norse 1.1 jumps the current first, ``i += x``, then integrates
    :math:`v \leftarrow v + dt\,\tau_m^{-1}(v_\text{leak} - v + i)`, decays
    :math:`i \leftarrow (1 - dt\,\tau_s^{-1})\,i`, spikes on :math:`v > v_\text{th}` and resets
    to ``v_reset`` on the same step without detaching the spike. That is ``synaptic_step`` with
    ``alpha = 1 - dt*tau_syn_inv``, ``beta = 1 - dt*tau_mem_inv``, the input scaled by
    ``dt*tau_mem_inv``, ``reset="zero", reset_delay=False, detach_reset=False`` and
    ``superspike(1.0)``: Norse 1.1's ``SuperSpike`` backward is :math:`1/(|x|+1)^2` whatever
    ``LIFParameters.alpha`` says (its ``alpha`` is unused; checked against norse 1.1.0), so
    ``surrogate_alpha=1`` reproduces its gradients. Our current is Norse's current *before* its
    decay, times ``dt*tau_mem_inv``.

    Reset to ``v_reset != 0``: exact by measuring the membrane from ``v_reset`` (threshold
    ``v_th - v_reset``, ``v_offset = v_reset``) when the membrane starts at ``v_reset``. A leak
    towards ``v_leak != v_reset`` adds a constant to the membrane update, which
    ``synaptic_step`` cannot express: ValueError.

    Args:
        tau_syn_inv, tau_mem_inv, v_th, v_leak, v_reset: Norse's ``LIFParameters`` (floats).
        dt: Norse's integration step.
        surrogate_alpha: slope of :func:`snnfunc.surrogate.superspike` (1 matches Norse 1.1).
    Returns:
        A :class:`PeerNeuron`.
    """
    tsi, tmi = _float("tau_syn_inv", tau_syn_inv), _float("tau_mem_inv", tau_mem_inv)
    v_th, v_leak, v_reset = (
        _float("v_th", v_th),
        _float("v_leak", v_leak),
        _float("v_reset", v_reset),
    )
    _check_dt(dt)
    if v_leak != v_reset:
        raise ValueError(
            f"v_leak ({v_leak}) must equal v_reset ({v_reset}): a leak towards another potential "
            "adds a constant to the membrane update, which synaptic_step cannot express"
        )
    params = SynapticParams(alpha=1 - dt * tsi, beta=1 - dt * tmi, threshold=v_th - v_reset)
    options = dict(
        reset="zero", reset_delay=False, detach_reset=False, spike_fn=superspike(surrogate_alpha)
    )
    return PeerNeuron(synaptic_step, params, options, input_scale=dt * tmi, v_offset=v_reset)


def norse_lif_box_matching(
    *,
    tau_mem_inv: float = 100.0,
    v_th: float = 1.0,
    v_leak: float = 0.0,
    v_reset: float = 0.0,
    dt: float = 1e-3,
    surrogate_alpha: float = 1.0,
) -> PeerNeuron:
    r"""Norse's ``lif_box_feed_forward_step`` (LIF without synaptic current) as ``lif_step``.

    :math:`v \leftarrow v + dt\,\tau_m^{-1}(x + v_\text{leak} - v)` is ``lif_step`` with
    ``beta = 1 - dt*tau_mem_inv`` and input scale ``dt*tau_mem_inv``; spikes and the same-step
    reset as :func:`norse_lif_matching` (same conditions on ``v_leak``/``v_reset``).
    """
    tmi = _float("tau_mem_inv", tau_mem_inv)
    v_th, v_leak, v_reset = (
        _float("v_th", v_th),
        _float("v_leak", v_leak),
        _float("v_reset", v_reset),
    )
    _check_dt(dt)
    if v_leak != v_reset:
        raise ValueError(
            f"v_leak ({v_leak}) must equal v_reset ({v_reset}): a leak towards another potential "
            "is a constant input; add (dt*tau_mem_inv)*(v_leak - v_reset) to the input yourself"
        )
    options = dict(
        reset="zero", reset_delay=False, detach_reset=False, spike_fn=superspike(surrogate_alpha)
    )
    params = LIFParams(beta=1 - dt * tmi, threshold=v_th - v_reset)
    return PeerNeuron(lif_step, params, options, input_scale=dt * tmi, v_offset=v_reset)


def spikingjelly_lif_matching(
    *,
    tau: float = 2.0,
    decay_input: bool = True,
    v_threshold: float = 1.0,
    v_reset: float | None = 0.0,
    detach_reset: bool = False,
    surrogate_alpha: float = 4.0,
    dtype: torch.dtype = torch.float32,
) -> PeerNeuron:
    r"""SpikingJelly's ``LIFNode`` (activation_based, 2.0) as :func:`snnfunc.lif_step`.

    SpikingJelly charges :math:`h = v + (x - (v - v_r))/\tau` (``decay_input=True``) or
    :math:`h = v - (v - v_r)/\tau + x` (``decay_input=False``), fires on :math:`h \ge v_\text{th}`
    and resets on the same step: to ``v_reset`` (hard), or by subtracting ``v_threshold`` when
    ``v_reset is None`` (soft, with :math:`v_r = 0` in the charge). That is ``lif_step`` with
    ``beta = 1 - 1/tau``, input scale ``1/tau`` (``decay_input``) or 1, ``reset="zero"`` (hard,
    membrane measured from ``v_reset``) or ``"subtract"`` (soft), ``reset_delay=False`` and
    SpikingJelly's ``detach_reset``; ``surrogate.Sigmoid(alpha)`` is ``snnfunc.surrogate.sigmoid``.

    ``>=`` firing: snnfunc spikes on ``h > threshold`` strictly. For floats of ``dtype``,
    ``h >= t`` is exactly ``h > prev(t)`` (the next float below ``t``), so the threshold is
    ``torch.nextafter(t, -inf)``: spikes match bit for bit. With the soft reset the subtracted
    threshold is then one ulp smaller than SpikingJelly's, so membranes differ by about one ulp
    per spike (``1e-7`` relative in float32); hard reset is exact.

    Args:
        tau, decay_input, v_threshold, v_reset, detach_reset: ``LIFNode``'s arguments.
        surrogate_alpha: ``alpha`` of SpikingJelly's ``surrogate.Sigmoid`` (default 4).
        dtype: dtype the neuron will run in (the one-ulp threshold depends on it).
    Returns:
        A :class:`PeerNeuron`; its ``params.threshold`` is a 0-d tensor of ``dtype``.
    """
    tau_f, v_th = _float("tau", tau), _float("v_threshold", v_threshold)
    if not tau_f > 1.0:
        raise ValueError(f"tau must be > 1 (SpikingJelly asserts it), got {tau!r}")
    if not isinstance(decay_input, bool):
        raise TypeError(f"decay_input must be a bool, got {type(decay_input).__name__}")
    offset = 0.0 if v_reset is None else _float("v_reset", v_reset)
    t = torch.tensor(v_th - offset, dtype=dtype)
    threshold = torch.nextafter(t, torch.tensor(-math.inf, dtype=dtype))
    options: dict[str, Any] = dict(
        reset="subtract" if v_reset is None else "zero",
        reset_delay=False,
        detach_reset=detach_reset,
        spike_fn=sigmoid(surrogate_alpha),
    )
    params = LIFParams(beta=1 - 1 / tau_f, threshold=threshold)
    scale = 1 / tau_f if decay_input else 1.0
    return PeerNeuron(lif_step, params, options, input_scale=scale, v_offset=offset)
