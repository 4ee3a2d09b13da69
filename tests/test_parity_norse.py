"""Parity with Norse 1.1's ``lif_feed_forward_step`` / ``lif_box_feed_forward_step``.

The options come from :func:`snnfunc.interop.params.norse_lif_matching`; skipped without Norse
(install: see README, "Parity with snnTorch, Norse and SpikingJelly"), except under CI
(``CI=true``), which installs it: there a missing Norse fails.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from _ci import import_peer
from torch import Tensor

import snnfunc as sf
from snnfunc.interop.params import PeerNeuron, norse_lif_box_matching, norse_lif_matching

import_peer("norse")
norse_lif = import_peer("norse.torch.functional.lif")
norse_box = import_peer("norse.torch.functional.lif_box")

F64 = torch.float64


def _inputs(seed: int, t: int = 60, b: int = 3, n: int = 8, scale: float = 6.0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(t, b, n, generator=g, dtype=F64) * scale - 0.2 * scale).requires_grad_()


def _ours(peer: PeerNeuron, xs: Tensor) -> tuple[Tensor, Tensor]:
    step = sf.sequential(*peer.layers(), record_states=True)
    init = sf.synaptic_init if peer.step is sf.synaptic_step else sf.lif_init
    (z, (state,)), _ = sf.scan(step, (init(xs.shape[1:], dtype=F64),), xs)
    return z, state.v + peer.v_offset


def _norse_ff(xs: Tensor, p: Any, dt: float) -> tuple[Tensor, Tensor]:
    v0 = torch.full_like(xs[0], float(p.v_leak))
    state = norse_lif.LIFFeedForwardState(v=v0, i=torch.zeros_like(xs[0]))
    zs, vs = [], []
    for x in xs:
        z, state = norse_lif.lif_feed_forward_step(x, state, p, dt=dt)
        zs.append(z)
        vs.append(state.v)
    return torch.stack(zs), torch.stack(vs)


CASES = [
    dict(tau_syn_inv=200.0, tau_mem_inv=100.0, v_th=1.0, v_leak=0.0, v_reset=0.0, dt=1e-3),
    dict(tau_syn_inv=500.0, tau_mem_inv=250.0, v_th=0.4, v_leak=0.0, v_reset=0.0, dt=1e-3),
    dict(tau_syn_inv=100.0, tau_mem_inv=50.0, v_th=0.5, v_leak=-0.2, v_reset=-0.2, dt=2e-3),
]


@pytest.mark.parametrize("case", CASES, ids=["defaults", "fast", "shifted-reset"])
def test_lif_feed_forward_step(case: dict[str, float]) -> None:
    xs = _inputs(0, scale=2.0)
    dt = case["dt"]
    p = norse_lif.LIFParameters(
        **{k: torch.tensor(v, dtype=F64) for k, v in case.items() if k != "dt"},
        method="super",
        alpha=torch.tensor(100.0, dtype=F64),
    )
    z_ref, v_ref = _norse_ff(xs, p, dt)
    z, v = _ours(norse_lif_matching(**case), xs)
    assert 0 < z_ref.sum() < z_ref.numel() * 0.8
    assert torch.equal(z, z_ref)
    torch.testing.assert_close(v, v_ref, rtol=1e-10, atol=1e-10)
    w = torch.randn(z.shape, generator=torch.Generator().manual_seed(5), dtype=F64)
    (g_ref,) = torch.autograd.grad((z_ref * w).sum(), xs)
    (g,) = torch.autograd.grad((z * w).sum(), xs)
    assert g_ref.abs().sum() > 0
    torch.testing.assert_close(g, g_ref, rtol=1e-8, atol=1e-10)


def test_norse_superspike_ignores_alpha() -> None:
    # Why norse_lif_matching uses superspike(1.0): Norse 1.1's gradient does not depend on alpha.
    xs = _inputs(1)
    grads = []
    for alpha in (1.0, 100.0):
        p = norse_lif.LIFParameters(method="super", alpha=torch.tensor(alpha, dtype=F64))
        z, _ = _norse_ff(xs, p, 1e-3)
        grads.append(torch.autograd.grad(z.sum(), xs)[0])
    torch.testing.assert_close(grads[0], grads[1])
    z, _ = _ours(norse_lif_matching(surrogate_alpha=100.0), xs)
    assert not torch.allclose(torch.autograd.grad(z.sum(), xs)[0], grads[0])


def test_lif_box_feed_forward_step() -> None:
    xs = _inputs(2, scale=3.0)
    p = norse_box.LIFBoxParameters(
        tau_mem_inv=torch.tensor(100.0, dtype=F64), v_th=torch.tensor(0.6, dtype=F64)
    )
    state = norse_box.LIFBoxFeedForwardState(v=torch.zeros_like(xs[0]))
    zs, vs = [], []
    for x in xs:
        z, state = norse_box.lif_box_feed_forward_step(x, state, p, dt=1e-3)
        zs.append(z)
        vs.append(state.v)
    z_ref, v_ref = torch.stack(zs), torch.stack(vs)
    z, v = _ours(norse_lif_box_matching(tau_mem_inv=100.0, v_th=0.6), xs)
    assert 0 < z_ref.sum()
    assert torch.equal(z, z_ref)
    torch.testing.assert_close(v, v_ref, rtol=1e-10, atol=1e-10)
    (g_ref,) = torch.autograd.grad(z_ref.sum(), xs)
    (g,) = torch.autograd.grad(z.sum(), xs)
    torch.testing.assert_close(g, g_ref, rtol=1e-8, atol=1e-10)


def test_leak_to_another_potential_is_refused() -> None:
    with pytest.raises(ValueError, match="v_leak .* must equal v_reset"):
        norse_lif_matching(v_leak=0.1, v_reset=0.0)
