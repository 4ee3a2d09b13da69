r"""The one reset rule every neuron model uses.

A model's step first updates its membrane without any reset, :math:`h = f(\text{state}, x)`,
then calls :func:`fire` which spikes and resets:

* ``reset_delay=False`` (default; Norse, SpikingJelly): the reset lands on the step of the spike,

  .. math:: z = S(h - \vartheta),\quad v = R(h, \mathrm{sg}(z), \vartheta)

* ``reset_delay=True`` (snnTorch's default): the reset of the previous step's spike lands now,
  on the freshly updated membrane, and the carried membrane is the one before any reset of its own
  spike,

  .. math:: r = \mathrm{sg}(S(v_\text{prev} - \vartheta)),\quad v = R(h, r, \vartheta),
            \quad z = S(v - \vartheta)

where :math:`\mathrm{sg}` is stop-gradient when ``detach_reset=True`` (the default) and the
identity otherwise, and :math:`R` is the reset mode:

====================  =========================================  ============================
``reset``             :math:`R(h, z, \vartheta)`                  also known as
====================  =========================================  ============================
``"subtract"``        :math:`h - z\,\vartheta`                     soft reset
``"zero"``            :math:`h\,(1 - z)`                          hard reset to 0
``"none"``            :math:`h`                                   no reset (pure integration)
====================  =========================================  ============================

Parity with snnTorch (checked in ``tests/test_parity_snntorch.py``): ``Leaky``/``Synaptic`` with
their defaults (``reset_mechanism="subtract"``, ``reset_delay=True``) are ``reset="subtract",
reset_delay=True``; ``Synaptic(reset_mechanism="zero")`` is ``reset="zero", reset_delay=True``.
``Leaky(reset_mechanism="zero")`` zeroes the *old* membrane before the decay, which gives the same
spikes as our ``reset="zero", reset_delay=False``; snnTorch then reports the pre-reset membrane
where we report 0 on spike steps (our membrane equals theirs times ``1 - z``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from snnfunc._checks import check_broadcasts_to, check_choice, check_floating, check_param_like
from snnfunc.surrogate import DEFAULT_SPIKE, SpikeFn

Reset = Literal["subtract", "zero", "none"]
RESET_MODES: tuple[str, ...] = ("subtract", "zero", "none")


def apply_reset(v: Tensor, z: Tensor, threshold: Tensor | float, reset: Reset) -> Tensor:
    """Reset membrane ``v`` where ``z`` is 1. ``v, z: [..., N]`` -> ``[..., N]``.

    Args:
        v: membrane, floating point ``[..., N]``.
        z: spikes (or any gate in [0, 1]) broadcastable to ``v``, floating point.
        threshold: a float or a tensor broadcastable to ``v``.
        reset: ``"subtract"``, ``"zero"`` or ``"none"`` (table in the module docstring).
    Returns:
        The reset membrane, ``[..., N]``, dtype of ``v``.
    """
    check_floating("v", v)
    check_floating("z", z)
    check_broadcasts_to("z", z, v.shape)
    check_broadcasts_to("threshold", threshold, v.shape)
    check_param_like("threshold", threshold, v)
    check_param_like("z", z, v)
    check_choice("reset", reset, RESET_MODES)
    return reset_rule(v, z, threshold, reset)


def reset_rule(v: Tensor, z: Tensor, threshold: Tensor | float, reset: str) -> Tensor:
    """:func:`apply_reset` without its checks: for time loops (neuron steps, fused scans) that
    validate their inputs once at their boundary."""
    if reset == "subtract":
        return v - z * threshold
    if reset == "zero":
        return v * (1 - z)
    if reset == "none":
        return v
    check_choice("reset", reset, RESET_MODES)
    raise AssertionError("unreachable")


def fire(
    h: Tensor,
    v_prev: Tensor,
    threshold: Tensor | float,
    *,
    spike_fn: Callable[[Tensor], Tensor],
    reset: Reset,
    reset_delay: bool,
    detach_reset: bool,
) -> tuple[Tensor, Tensor]:
    """Spike and reset an updated membrane ``h`` (see the module docstring).

    Args:
        h: membrane after this step's update, before any reset, ``[..., N]``.
        v_prev: the carried membrane from the previous step, ``[..., N]`` (used only when
            ``reset_delay=True``).
        threshold: broadcastable to ``[..., N]``.
    Returns:
        ``(z, v)``: spikes and the membrane to carry, both ``[..., N]``.
    """
    if reset_delay:
        r = spike_fn(v_prev - threshold)
        if detach_reset:
            r = r.detach()
        v = reset_rule(h, r, threshold, reset)
        return spike_fn(v - threshold), v
    z = spike_fn(h - threshold)
    return z, reset_rule(h, z.detach() if detach_reset else z, threshold, reset)


def check_reset_options(reset: str, reset_delay: bool, detach_reset: bool) -> None:
    check_choice("reset", reset, RESET_MODES)
    if not isinstance(reset_delay, bool):
        raise TypeError(f"reset_delay must be a bool, got {type(reset_delay).__name__}")
    if not isinstance(detach_reset, bool):
        raise TypeError(f"detach_reset must be a bool, got {type(detach_reset).__name__}")


FIRING_OPTIONS: tuple[str, ...] = ("spike_fn", "reset", "reset_delay", "detach_reset")


@dataclass(frozen=True)
class Firing:
    """The four static firing options of a neuron layer as one value, validated once.

    ``Firing(spike_fn, reset, reset_delay, detach_reset)`` is checked when it is made (the
    argument named in the error); calling it, ``firing(h, v_prev, threshold) -> (z, v)``, is
    :func:`fire` with these options and no checks, for time loops. It is hashable, so it can key
    caches of compiled or fused paths.

    >>> import torch
    >>> firing = Firing(reset="zero")
    >>> firing(torch.tensor([0.5, 1.5]), torch.zeros(2), 1.0)
    (tensor([0., 1.]), tensor([0.5000, 0.0000]))
    """

    spike_fn: SpikeFn = DEFAULT_SPIKE
    reset: Reset = "subtract"
    reset_delay: bool = False
    detach_reset: bool = True

    def __post_init__(self) -> None:
        if not callable(self.spike_fn):
            raise TypeError(f"spike_fn must be callable, got {type(self.spike_fn).__name__}")
        check_reset_options(self.reset, self.reset_delay, self.detach_reset)

    def __call__(
        self, h: Tensor, v_prev: Tensor, threshold: Tensor | float
    ) -> tuple[Tensor, Tensor]:
        """Spike and reset ``h`` (:func:`fire`). ``h, v_prev: [..., N]`` -> ``(z, v)``."""
        return fire(
            h,
            v_prev,
            threshold,
            spike_fn=self.spike_fn,
            reset=self.reset,
            reset_delay=self.reset_delay,
            detach_reset=self.detach_reset,
        )

    @classmethod
    def of(cls, **options: object) -> Firing:
        """``Firing`` from keyword options (missing ones take their defaults); unknown keywords
        raise ``TypeError`` naming them. Traceable by ``torch.compile``."""
        unknown = sorted(set(options) - set(FIRING_OPTIONS))
        if unknown:
            raise TypeError(f"unknown firing options {unknown}; expected some of {FIRING_OPTIONS}")
        # Defaults passed explicitly: Dynamo cannot wrap a dataclass field's default Surrogate.
        return cls(
            options.get("spike_fn", DEFAULT_SPIKE),  # type: ignore[arg-type]
            options.get("reset", "subtract"),  # type: ignore[arg-type]
            options.get("reset_delay", False),  # type: ignore[arg-type]
            options.get("detach_reset", True),  # type: ignore[arg-type]
        )

    def options(self) -> dict[str, object]:
        """The options as keywords of a ``*_step``: ``lif_step(s, x, p, **firing.options())``."""
        return {
            "spike_fn": self.spike_fn,
            "reset": self.reset,
            "reset_delay": self.reset_delay,
            "detach_reset": self.detach_reset,
        }
