"""Parity with SpikingJelly 2.0's ``LIFNode`` (activation_based).

The options come from :func:`snnfunc.interop.params.spikingjelly_lif_matching`; skipped without
SpikingJelly, except under CI (``CI=true``), which installs it: there a missing one fails.
"""

from __future__ import annotations

import pytest
import torch
from _ci import import_peer
from torch import Tensor

import snnfunc as sf
from snnfunc.interop.params import PeerNeuron, spikingjelly_lif_matching

sj_neuron = import_peer("spikingjelly.activation_based.neuron")

F64 = torch.float64


def _inputs(seed: int, t: int = 50, b: int = 3, n: int = 8) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(t, b, n, generator=g, dtype=F64) * 2.4 - 0.4).requires_grad_()


def _ours(peer: PeerNeuron, xs: Tensor) -> tuple[Tensor, Tensor]:
    step = sf.sequential(*peer.layers(), record_states=True)
    (z, (state,)), _ = sf.scan(step, (sf.lif_init(xs.shape[1:], dtype=xs.dtype),), xs)
    return z, state.v + peer.v_offset


def _sj(xs: Tensor, **kw: object) -> tuple[Tensor, Tensor]:
    node = sj_neuron.LIFNode(step_mode="m", store_v_seq=True, **kw)
    return node(xs), node.v_seq


CASES = [
    dict(tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0, detach_reset=False),
    dict(tau=2.0, decay_input=False, v_threshold=1.0, v_reset=0.0, detach_reset=True),
    dict(tau=5.0, decay_input=True, v_threshold=0.7, v_reset=-0.3, detach_reset=False),
    dict(tau=3.0, decay_input=False, v_threshold=1.2, v_reset=None, detach_reset=False),
    dict(tau=4.0, decay_input=True, v_threshold=0.5, v_reset=None, detach_reset=True),
]


@pytest.mark.parametrize(
    "case", CASES, ids=["default", "no-decay-input", "v_reset", "soft", "soft-detach"]
)
def test_lif_node(case: dict[str, object]) -> None:
    xs = _inputs(0)
    z_ref, v_ref = _sj(xs, **case)
    z, v = _ours(spikingjelly_lif_matching(**case, dtype=F64), xs)  # type: ignore[arg-type]
    assert 0 < z_ref.sum() < z_ref.numel() * 0.8
    assert torch.equal(z, z_ref)
    # hard reset: equal up to rounding; soft reset subtracts a threshold one ulp smaller
    torch.testing.assert_close(v, v_ref, rtol=1e-12, atol=1e-12)
    w = torch.randn(z.shape, generator=torch.Generator().manual_seed(5), dtype=F64)
    (g_ref,) = torch.autograd.grad((z_ref * w).sum(), xs)
    (g,) = torch.autograd.grad((z * w).sum(), xs)
    assert g_ref.abs().sum() > 0
    torch.testing.assert_close(g, g_ref, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fires_at_exactly_threshold(dtype: torch.dtype) -> None:
    # SpikingJelly fires on v >= v_threshold; snnfunc on v > threshold. The matching threshold is
    # the next float below, so a membrane landing exactly on v_threshold spikes in both.
    xs = torch.tensor([[[1.0, 0.5]], [[0.25, 0.0]]], dtype=dtype)  # decay_input=False: h = x
    z_ref, _ = _sj(xs, tau=2.0, decay_input=False, v_threshold=1.0)
    peer = spikingjelly_lif_matching(tau=2.0, decay_input=False, v_threshold=1.0, dtype=dtype)
    z, _ = _ours(peer, xs)
    assert z_ref[0, 0].tolist() == [1.0, 0.0]
    assert torch.equal(z, z_ref)
    # and the plain threshold would not: the difference the helper exists for
    plain = PeerNeuron(sf.lif_step, sf.LIFParams(0.5, 1.0), peer.options)
    assert _ours(plain, xs)[0][0, 0, 0] == 0


def test_tau_must_exceed_one() -> None:
    with pytest.raises(ValueError, match="tau must be > 1"):
        spikingjelly_lif_matching(tau=1.0)
