r"""Spike functions: Heaviside forward, surrogate-gradient backward.

A spike function maps the shifted membrane ``x = v - threshold`` to spikes ``H(x) = 1[x > 0]``
(``[...] -> [...]``, dtype of ``x``). Its backward pretends the step was a smooth function
:math:`S(x)` and uses :math:`S'(x)`, the *surrogate derivative*. Peers use the same names for
different formulas, so every factory below states its exact derivative and peak value.

Each factory returns a :class:`Surrogate`: a frozen, hashable callable that also exposes
``derivative(x)`` (:mod:`snnfunc.testing` uses it). The hyperparameter may
be a float or a Tensor that requires grad (a learnable slope, per neuron if you like); a Tensor
gets the gradient :math:`\partial S / \partial \text{hyper}` of the smooth surrogate.

torch.func: the backward is a ``torch.autograd.Function`` with ``setup_context`` and
``generate_vmap_rule = True``, so ``vmap``, ``grad``, ``vmap(grad)``, ``jacrev`` and
``torch.compile`` of the forward (followed by ``.backward()``) all work. Known PyTorch limits,
tested in ``tests/test_surrogate.py``: forward-mode AD (``jvp``/``jacfwd``) is not implemented
(adding a ``jvp`` breaks ``torch.compile(fullgraph=True)``), and ``torch.compile`` wrapped
*around* ``torch.func.grad`` is unsafe (pytorch#193279): compile the forward, not the transform.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from snnfunc._checks import check_broadcasts_to, check_floating, check_positive

Hyper = float | Tensor
SpikeFn = Callable[[Tensor], Tensor]

__all__ = [
    "SURROGATES",
    "SurrogateSpec",
    "Surrogate",
    "SpikeFn",
    "step",
    "heaviside",
    "atan",
    "fast_sigmoid",
    "superspike",
    "sigmoid",
    "triangle",
    "boxcar",
    "straight_through",
    "custom",
    "ForwardModeSpike",
    "forward_mode_spike",
]


def step(x: Tensor) -> Tensor:
    """Plain step ``1[x > 0]`` in the dtype of ``x``, no surrogate. ``[...] -> [...]``.

    NaN propagates: ``step(nan)`` is ``nan`` (a broken membrane is not a silent neuron);
    ``step(inf) = 1``, ``step(-inf) = 0``, ``step(-0.0) = 0``.

    >>> import torch
    >>> step(torch.tensor([-1.0, 0.0, 1e-30, 3.0, float("nan")]))
    tensor([0., 0., 1., 1., nan])
    """
    # clamp keeps NaN; ceil maps (0, 1] to 1; abs turns -0.0 into 0.0. On CPU this is faster
    # than ``(x > 0).to(x.dtype)``, which maps NaN to 0.
    return x.clamp(0, 1).ceil().abs()


class _SurrogateSpike(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, hyper: Any, surrogate: Surrogate) -> Tensor:  # type: ignore[override]
        return step(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        x, hyper, surrogate = inputs
        ctx.surrogate = surrogate
        if isinstance(hyper, Tensor):
            ctx.save_for_backward(x, hyper)
            ctx.hyper_is_tensor = True
        else:
            ctx.save_for_backward(x)
            ctx.hyper = hyper
            ctx.hyper_is_tensor = False

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        surrogate: Surrogate = ctx.surrogate
        if ctx.hyper_is_tensor:
            x, hyper = ctx.saved_tensors
        else:
            (x,) = ctx.saved_tensors
            hyper = ctx.hyper
        grad_x = grad * surrogate.derivative_fn(x, hyper) if ctx.needs_input_grad[0] else None
        grad_hyper = None
        if ctx.hyper_is_tensor and ctx.needs_input_grad[1]:
            assert surrogate.hyper_derivative_fn is not None
            grad_hyper = (grad * surrogate.hyper_derivative_fn(x, hyper)).sum_to_size(hyper.shape)
        return grad_x, grad_hyper, None


@dataclass(frozen=True, eq=False)
class Surrogate:
    """A spike function ``x -> 1[x > 0]`` whose backward is ``derivative(x)``.

    Attributes:
        name: the surrogate's name, e.g. ``"atan"``.
        derivative_fn: ``(x, hyper) -> dS/dx``, elementwise.
        hyper: the hyperparameter (float or Tensor), or ``None``.
        hyper_derivative_fn: ``(x, hyper) -> dS/dhyper``, elementwise, for a learnable hyper.
        kind: the :data:`SURROGATES` entry that made it (``None`` for :func:`custom`).
    """

    name: str
    derivative_fn: Callable[[Tensor, Any], Tensor]
    hyper: Hyper | None = None
    hyper_derivative_fn: Callable[[Tensor, Any], Tensor] | None = field(default=None)
    kind: str | None = field(default=None, repr=False)

    def __call__(self, x: Tensor) -> Tensor:
        """Spikes ``1[x > 0]``. ``x: [...] -> [...]``, floating point; dtype of ``x``."""
        check_floating("x", x)
        if isinstance(self.hyper, Tensor) and self.hyper.dim() > 0:
            check_broadcasts_to(f"{self.name} hyperparameter", self.hyper, x.shape)
        z: Tensor = _SurrogateSpike.apply(x, self.hyper, self)  # type: ignore[no-untyped-call]
        return z

    def derivative(self, x: Tensor) -> Tensor:
        """The surrogate derivative ``dS/dx`` at ``x`` (``[...] -> [...]``), no autograd."""
        check_floating("x", x)
        if isinstance(self.hyper, Tensor) and self.hyper.dim() > 0:
            check_broadcasts_to(f"{self.name} hyperparameter", self.hyper, x.shape)
        return self.derivative_fn(x, self.hyper)

    @property
    def hyper_requires_grad(self) -> bool:
        return isinstance(self.hyper, Tensor) and self.hyper.requires_grad

    def __repr__(self) -> str:
        if self.hyper is None:
            return f"{self.name}()"
        h = self.hyper if not isinstance(self.hyper, Tensor) else "Tensor"
        return f"{self.name}({h})"


@dataclass(frozen=True)
class SurrogateSpec:
    """A registered surrogate factory and what consumers need to know about it.

    Attributes:
        factory: ``factory(hyper?) -> Surrogate``.
        hyper_range: the hyperparameter range property tests draw from (``None``: it has none).
    """

    factory: Callable[..., Surrogate]
    hyper_range: tuple[float, float] | None = None


_REGISTRY: dict[str, SurrogateSpec] = {}
SURROGATES: Mapping[str, SurrogateSpec] = MappingProxyType(_REGISTRY)
"""Every built-in surrogate factory by name (read-only): the models' and CLI's choices,
:mod:`snnfunc.testing`'s draws. Filled by :func:`_builtin`."""


def _builtin(
    hyper_range: tuple[float, float] | None = None,
) -> Callable[[Callable[..., Surrogate]], Callable[..., Surrogate]]:
    """Register a factory under its name; its surrogates carry ``kind=name``."""

    def register(factory: Callable[..., Surrogate]) -> Callable[..., Surrogate]:
        name = factory.__name__

        @functools.wraps(factory)
        def make(*args: Any, **kwargs: Any) -> Surrogate:
            return dataclasses.replace(factory(*args, **kwargs), kind=name)

        _REGISTRY[name] = SurrogateSpec(make, hyper_range)
        return make

    return register


def _hyper(name: str, value: Hyper) -> Hyper:
    check_positive(name, value, finite=True)
    return float(value) if isinstance(value, (int, float)) else value


# --- arctan ---------------------------------------------------------------------------------
def _atan_d(x: Tensor, a: Hyper) -> Tensor:
    return (a / 2) / (1 + (math.pi / 2 * a * x) ** 2)


def _atan_da(x: Tensor, a: Hyper) -> Tensor:
    return (x / 2) / (1 + (math.pi / 2 * a * x) ** 2)


@_builtin((0.5, 10.0))
def atan(alpha: Hyper = 2.0) -> Surrogate:
    r"""Arctan surrogate (snnTorch's ``atan``, its neurons' default).

    .. math:: S(x) = \tfrac{1}{\pi}\arctan(\tfrac{\pi}{2}\alpha x) + \tfrac12,\quad
              S'(x) = \frac{\alpha/2}{1 + (\tfrac{\pi}{2}\alpha x)^2}

    Peak :math:`S'(0) = \alpha/2` (1 at the default ``alpha=2``); unit area.
    """
    return Surrogate("atan", _atan_d, _hyper("alpha", alpha), _atan_da)


# --- fast sigmoid / SuperSpike (same formula, peers' different defaults) -------------------
def _fs_d(x: Tensor, k: Hyper) -> Tensor:
    return 1 / (k * x.abs() + 1) ** 2


def _fs_dk(x: Tensor, k: Hyper) -> Tensor:
    r = 1 / (k * x.abs() + 1)
    return -(x * r) * (x.abs() * r)  # -x|x| / (k|x|+1)^2, as bounded factors (no inf/inf)


@_builtin((1.0, 50.0))
def fast_sigmoid(slope: Hyper = 25.0) -> Surrogate:
    r"""Fast sigmoid (snnTorch's ``fast_sigmoid``, Zenke & Ganguli).

    .. math:: S(x) = \frac{x}{k|x| + 1},\quad S'(x) = \frac{1}{(k|x| + 1)^2}

    with ``k = slope``. Peak :math:`S'(0) = 1`; area :math:`2/k`.
    """
    return Surrogate("fast_sigmoid", _fs_d, _hyper("slope", slope), _fs_dk)


@_builtin((1.0, 100.0))
def superspike(alpha: Hyper = 100.0) -> Surrogate:
    r"""SuperSpike (Norse's ``superspike``, default ``alpha=100``).

    .. math:: S'(x) = \frac{1}{(\alpha|x| + 1)^2}

    The same formula as :func:`fast_sigmoid`, with Norse's default steepness. Peak 1.
    """
    return Surrogate("superspike", _fs_d, _hyper("alpha", alpha), _fs_dk)


# --- logistic sigmoid ------------------------------------------------------------------------
def _sig_d(x: Tensor, k: Hyper) -> Tensor:
    s = torch.sigmoid(k * x)
    return k * s * (1 - s)


def _sig_dk(x: Tensor, k: Hyper) -> Tensor:
    s = torch.sigmoid(k * x)
    return x * s * (1 - s)


@_builtin((0.5, 20.0))
def sigmoid(slope: Hyper = 5.0) -> Surrogate:
    r"""Logistic sigmoid (snnTorch's ``sigmoid``).

    .. math:: S(x) = \sigma(kx),\quad S'(x) = k\,\sigma(kx)\,(1 - \sigma(kx))

    Peak :math:`S'(0) = k/4`; unit area.
    """
    return Surrogate("sigmoid", _sig_d, _hyper("slope", slope), _sig_dk)


# --- triangle --------------------------------------------------------------------------------
def _tri_d(x: Tensor, w: Hyper) -> Tensor:
    return torch.clamp(1 - x.abs() / w, min=0) / w


def _tri_dw(x: Tensor, w: Hyper) -> Tensor:
    # -x/w^2 + x|x|/w^3 written as -(u/w)(1 - |u|), u = x/w: bounded by 1/(4w) inside, and
    # torch.where (not a 0/1 mask times the formula) so that overflow outside gives 0, not NaN.
    u = x / w
    return torch.where(x.abs() < w, -(u / w) * (1 - u.abs()), 0.0)


@_builtin((0.1, 2.0))
def triangle(width: Hyper = 1.0) -> Surrogate:
    r"""Triangle (piecewise-linear, Esser et al. / Bellec et al.).

    .. math:: S'(x) = \frac{1}{w}\max\!\left(0,\ 1 - \frac{|x|}{w}\right)

    Peak :math:`1/w`; unit area; zero outside ``|x| < width``.
    """
    return Surrogate("triangle", _tri_d, _hyper("width", width), _tri_dw)


# --- boxcar ----------------------------------------------------------------------------------
def _box_d(x: Tensor, w: Hyper) -> Tensor:
    return (x.abs() < w).to(x.dtype) / (2 * w)


def _box_dw(x: Tensor, w: Hyper) -> Tensor:
    # -x / (2w^2) as -(x/w)/(2w): bounded by 1/(2w) inside; where(): no 0 * inf = NaN outside.
    return torch.where(x.abs() < w, -(x / w) / (2 * w), 0.0)


@_builtin((0.1, 2.0))
def boxcar(width: Hyper = 0.5) -> Surrogate:
    r"""Boxcar (rectangular window).

    .. math:: S'(x) = \frac{1}{2w}\,\mathbb{1}[|x| < w]

    Peak :math:`1/(2w)` (1 at the default ``width=0.5``); unit area.
    """
    return Surrogate("boxcar", _box_d, _hyper("width", width), _box_dw)


# --- no-hyperparameter surrogates ------------------------------------------------------------
def _ones_d(x: Tensor, _: Any) -> Tensor:
    return torch.ones_like(x)


@_builtin()
def straight_through() -> Surrogate:
    r"""Straight-through estimator: :math:`S'(x) = 1` everywhere (peak 1)."""
    return Surrogate("straight_through", _ones_d)


def _spike_d(x: Tensor, _: Any) -> Tensor:
    return step(x)


@_builtin()
def heaviside() -> Surrogate:
    r"""snnTorch tutorial 3's surrogate: the gradient is the spike itself.

    .. math:: S'(x) = H(x) = \mathbb{1}[x > 0]

    (the derivative of a shifted ReLU; peak 1). Learning happens only where a neuron fires.
    """
    return Surrogate("heaviside", _spike_d)


def custom(derivative: Callable[[Tensor], Tensor], *, name: str = "custom") -> Surrogate:
    """Your own surrogate from its derivative ``dS/dx`` (elementwise, ``[...] -> [...]``).

    The result works everywhere a built-in does, fused scans included.

    >>> import torch
    >>> f = custom(lambda x: torch.exp(-x.abs()))
    >>> f(torch.tensor([-1.0, 0.0, 2.0]))
    tensor([0., 0., 1.])
    """
    if not callable(derivative):
        raise TypeError(f"derivative must be callable, got {type(derivative).__name__}")

    def _d(x: Tensor, _: Any) -> Tensor:
        return derivative(x)

    return Surrogate(name, _d)


# --- forward mode ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ForwardModeSpike:
    r"""A spike function with forward-mode support, from any surrogate with ``derivative``.

    .. math:: z = H(\mathrm{sg}(x)) + (x - \mathrm{sg}(x))\,S'(\mathrm{sg}(x))

    The value is exactly the Heaviside spike (the second term is 0) and the first derivative is
    the surrogate's :math:`S'(x)`, in reverse *and* forward mode, because there is no
    ``autograd.Function``: ``jvp``, ``jacfwd``, ``hessian`` and every ``torch.compile``
    composition work. Differences from the Function: second derivatives are 0 (not
    :math:`S''`), and a learnable (Tensor) surrogate hyperparameter gets zero gradient.
    """

    surrogate: Any

    def __call__(self, x: Tensor) -> Tensor:
        """Spikes ``1[x > 0]``. ``x: [...] -> [...]``, dtype of ``x``."""
        xd = x.detach()
        d: Tensor = self.surrogate.derivative(xd)
        return step(xd) + (x - xd) * d

    def derivative(self, x: Tensor) -> Tensor:
        """The surrogate derivative ``S'(x)``, ``[...] -> [...]``."""
        d: Tensor = self.surrogate.derivative(x)
        return d


def forward_mode_spike(surrogate: Any) -> ForwardModeSpike:
    """:class:`ForwardModeSpike` for ``surrogate`` (e.g. ``snnfunc.surrogate.atan()``).

    Pass it as ``spike_fn=`` to any step to use ``torch.func.jvp``/``jacfwd``.

    >>> import torch
    >>> f = forward_mode_spike(atan(2.0))
    >>> torch.func.jvp(f, (torch.tensor([-1.0, 0.0]),), (torch.ones(2),))
    (tensor([0., 0.]), tensor([0.0920, 1.0000]))
    """
    if not callable(getattr(surrogate, "derivative", None)):
        raise TypeError(
            "surrogate must have a derivative(x) method (a snnfunc.surrogate.Surrogate), "
            f"got {type(surrogate).__name__}"
        )
    return ForwardModeSpike(surrogate)


DEFAULT_SPIKE: Surrogate = atan()
"""The default spike function of every neuron step: :func:`atan` with ``alpha=2`` (as snnTorch)."""
