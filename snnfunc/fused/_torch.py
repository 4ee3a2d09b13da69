r"""Pure-torch fused forward and backward: the reference for the C++ kernel, and its fallback.

Both model families are one recurrence (``i`` only for the synaptic model, ``beta = 1`` for IF)::

    i_t = alpha * i_{t-1} + x_t                      # synaptic only; otherwise i_t = x_t
    h_t = beta * v_{t-1} + i_t
    reset_delay=False:  z_t = H(h_t - thr),      v_t = R(h_t, z_t)
    reset_delay=True:   r_t = H(v_{t-1} - thr),  v_t = R(h_t, r_t),  z_t = H(v_t - thr)

``R`` is the reset rule of :mod:`snnfunc.reset`. The forward *is* the model's unchecked core
(``NeuronModel.bind``), run with the plain step as spike function, so spikes and states equal
``scan(step)`` bit for bit. The backward recomputes
the forward (nothing but the inputs is saved) and runs the hand-derived BPTT recurrence below,
with ``S' = spike_fn.derivative``, ``gv``/``gi`` the gradients carried back through ``v``/``i``::

    reset_delay=False (d = S'(h_t - thr)):
        gz' = gz_t + [not detach] gv * dR/dz          dR/dz: subtract -thr, zero -h_t, none 0
        gh  = gv * dR/dh + gz' * d                    dR/dh: zero 1 - z_t, otherwise 1
        gthr += -gz' * d - [subtract] z_t * gv
    reset_delay=True (d = S'(v_t - thr); gr = dL/dr_{t+1}, 0 when detached):
        gv' = gv + (gz_t + gr) * d;   gthr += -(gz_t + gr) * d - [subtract] r_t * gv'
        gh  = gv' * dR/dh;            gr  = [not detach] gv' * dR/dr     (dR/dr as dR/dz)
    then:  gbeta += gh * v_{t-1};  gv = beta * gh
           synaptic: gi' = gi + gh;  gx_t = gi';  galpha += gi' * i_{t-1};  gi = alpha * gi'
           otherwise: gx_t = gh
    after t = 0 with reset_delay=True:  gv += gr * S'(v_{-1} - thr),  gthr += -gr * S'(v_{-1} - thr)

A gradient no path of the reference's graph carries is *absent* (``None``), not zero: the spikes'
(``gz``) when the loss does not use them, the final state's (``gv``, ``gi``) when it does not use
it, ``gr`` when the reset is detached or is ``"none"`` (``R`` does not read its spike). A term with
an absent factor is dropped, as autograd never runs the node: ``0 * S'(nan)`` or ``0 * (1 - nan)``
would be NaN where the reference has no term at all (docs/reliability.md, "NaN policy").

Only out-of-place torch ops are used, so this path also runs under ``vmap`` and ``torch.compile``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from snnfunc.reset import Firing
from snnfunc.surrogate import step

if TYPE_CHECKING:  # (a runtime import would be circular: _function imports this module)
    from snnfunc.fused._function import Grads, Inputs

Param = Tensor | float | None

__all__ = ["forward", "backward"]


@dataclass(frozen=True)
class _Recording(Firing):
    """:class:`~snnfunc.reset.Firing` that also keeps every pre-reset membrane ``h`` it is
    given: the model's own core runs the forward, and the backward reads the ``h_t``."""

    hs: list[Tensor] | None = field(default=None, compare=False, hash=False)

    def __call__(
        self, h: Tensor, v_prev: Tensor, threshold: Tensor | float
    ) -> tuple[Tensor, Tensor]:
        if self.hs is not None:
            self.hs.append(h)
        return super().__call__(h, v_prev, threshold)


def _recurrence(
    inputs: Inputs, cfg: Any, *, record: bool
) -> tuple[Tensor, Tensor, Tensor | None, list[Tensor], list[Tensor], list[Tensor]]:
    """Run the forward through the model's unchecked core (``cfg.model``, its math written
    once); with ``record`` also return every ``h_t``, ``v_t`` and ``i_t``."""
    model, x, i0 = cfg.model, inputs.x, inputs.i0
    values: dict[str, Any] = {
        "alpha": inputs.alpha,
        "beta": inputs.beta,
        "threshold": inputs.thr,
        "v": inputs.v0,
        "i": i0,
    }
    params = model.params_type(*(values[name] for name in model.params))
    state = model.state_type(*(values[name] for name in model.state))
    hs: list[Tensor] = []
    # the plain step: forward values equal the surrogate's, without an autograd Function per step
    firing = _Recording(step, cfg.reset, cfg.reset_delay, cfg.detach_reset, hs if record else None)
    step_fn = model.bind(params, firing)
    xs = [x] * cfg.num_steps if cfg.static else list(x.unbind(0))
    spikes, vs, is_ = [], [], []
    for x_t in xs:
        z, state = step_fn(state, x_t)
        spikes.append(z)
        if record:
            vs.append(state.v)
            if i0 is not None:
                is_.append(state.i)
    return torch.stack(spikes), state.v, getattr(state, "i", None), hs, vs, is_


def forward(inputs: Inputs, cfg: Any) -> tuple[Tensor, Tensor, Tensor | None]:
    """Spikes ``[T, ...]``, final ``v`` and final ``i`` (``None`` without a synaptic current)."""
    spikes, v, i, _, _, _ = _recurrence(inputs, cfg, record=False)
    return spikes, v, i


def _reduce(g: Tensor | None, like: Param) -> Tensor | None:
    if g is None or not isinstance(like, Tensor):
        return None
    return g.sum_to_size(like.shape) if like.dim() > 0 else g.sum()


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """``a + b`` where an absent (``None``) gradient is no term at all."""
    if a is None:
        return b
    return a if b is None else a + b


def backward(
    inputs: Inputs, cfg: Any, grads: Grads, needs: tuple[bool, ...]
) -> tuple[Tensor | None, ...]:
    """Gradients ``(x, v0, i0, alpha, beta, thr)`` (``None`` where not needed)."""
    _, _, _, hs, vs, is_ = _recurrence(inputs, cfg, record=True)
    v0, i0, alpha, beta, thr = inputs.v0, inputs.i0, inputs.alpha, inputs.beta, inputs.thr
    g_spikes, g_v, g_i = grads
    d_fn = cfg.spike_fn.derivative
    reset, delay = cfg.reset, cfg.reset_delay
    # the reset's spike (z, or r when delayed) carries a gradient: not detached and read by R
    through_reset = not cfg.detach_reset and reset != "none"
    need_alpha, need_beta, need_thr = needs[3], needs[4], needs[5]
    gv = g_v  # None: absent (module docstring), until a term arrives
    gi = g_i if i0 is not None else None
    gr: Tensor | None = None
    g_alpha: Tensor | float = 0.0
    g_beta: Tensor | float = 0.0
    g_thr: Tensor | float = 0.0
    gxs: list[Tensor | None] = []
    for t in range(cfg.num_steps - 1, -1, -1):
        h = hs[t]
        v_prev = vs[t - 1] if t > 0 else v0
        gz = g_spikes[t] if g_spikes is not None else None
        gh: Tensor | None = None
        if delay:
            a = _add(gz, gr)  # z_t and r_{t+1} are both S(v_t - thr)
            if a is not None:
                ad = a * d_fn(vs[t] - thr)
                gv = _add(gv, ad)
                if need_thr:
                    g_thr = g_thr - ad
            gr = None
            if gv is not None:
                r = step(v_prev - thr)
                if need_thr and reset == "subtract":
                    g_thr = g_thr - r * gv
                gh = gv * (1 - r) if reset == "zero" else gv
                if through_reset:
                    gr = gv * (-thr if reset == "subtract" else -h)
        else:
            z = step(h - thr)
            gz_total = gz
            if through_reset and gv is not None:
                gz_total = _add(gz, gv * (-thr if reset == "subtract" else -h))
            if gv is not None:
                gh = gv * (1 - z) if reset == "zero" else gv
            if gz_total is not None:
                gzd = gz_total * d_fn(h - thr)
                gh = _add(gh, gzd)
                if need_thr:
                    g_thr = g_thr - gzd
            if need_thr and reset == "subtract" and gv is not None:
                g_thr = g_thr - z * gv
        if gh is not None and need_beta:
            g_beta = g_beta + gh * v_prev
        gv = None if gh is None else gh * beta if beta is not None else gh
        if i0 is not None:
            assert alpha is not None
            gi = _add(gi, gh)
            gxs.append(gi)
            if gi is not None:
                if need_alpha:
                    g_alpha = g_alpha + gi * (is_[t - 1] if t > 0 else i0)
                gi = gi * alpha
        else:
            gxs.append(gh)
    if gr is not None:  # r_0 = S(v_{-1} - thr)
        d0 = d_fn(v0 - thr)
        gv = _add(gv, gr * d0)
        if need_thr:
            g_thr = g_thr - gr * d0
    zero = torch.zeros_like(v0)
    g_x: Tensor | None = None
    if needs[0]:
        rows = [zero if g is None else g for g in gxs[::-1]]
        g_x = torch.stack(rows) if not cfg.static else torch.stack(rows).sum(0)
    return (
        g_x,
        (zero if gv is None else gv) if needs[1] else None,
        (zero if gi is None else gi) if needs[2] else None,
        _reduce(g_alpha if isinstance(g_alpha, Tensor) else zero, alpha) if need_alpha else None,
        _reduce(g_beta if isinstance(g_beta, Tensor) else zero, beta) if need_beta else None,
        _reduce(g_thr if isinstance(g_thr, Tensor) else zero, thr) if need_thr else None,
    )
