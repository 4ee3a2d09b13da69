"""NIR export/import: round trips, graphs written with nir's own constructors, refusals."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _ci import import_peer
from hypothesis import assume, given, settings
from torch import Tensor

import snnfunc as sf

nir = pytest.importorskip("nir")

from snnfunc.interop.nir import from_nir, input_gain, to_nir  # noqa: E402
from snnfunc.interop.params import decay_from_tau, tau_from_decay  # noqa: E402

DT = 1e-3


def _conv_net(reset: str = "zero", reset_delay: bool = False) -> list[Any]:
    g = torch.Generator().manual_seed(0)
    w1 = torch.randn(6, 2, 3, 3, generator=g) * 0.6
    b1 = torch.randn(6, generator=g) * 0.1
    w2 = torch.randn(12, 6 * 3 * 3, generator=g) * 0.4
    b2 = torch.randn(12, generator=g) * 0.1
    w3 = torch.randn(5, 12, generator=g)
    opts = dict(reset=reset, reset_delay=reset_delay)
    return [
        partial(F.conv2d, weight=w1, bias=b1, padding=1),
        sf.neuron(sf.lif_step, sf.LIFParams(torch.rand(6, 1, 1, generator=g) * 0.9, 0.8), **opts),
        partial(F.avg_pool2d, kernel_size=2),
        partial(torch.flatten, start_dim=1),
        partial(F.linear, weight=w2, bias=b2),
        sf.neuron(
            sf.synaptic_step, sf.SynapticParams(0.7, torch.rand(12, generator=g), 0.5), **opts
        ),
        partial(F.linear, weight=w3),
        sf.neuron(sf.if_step, sf.IFParams(torch.full((5,), 1.5)), **opts),
    ]


def _run(step: Any, state: Any, xs: Tensor) -> tuple[Tensor, Any]:
    return sf.scan(step, state, xs)  # type: ignore[no-any-return]


def _states(batch: int) -> tuple[Any, ...]:
    return (sf.lif_init((batch, 6, 6, 6)), sf.synaptic_init((batch, 12)), sf.if_init((batch, 5)))


def _inputs(t: int = 12, b: int = 2) -> Tensor:
    g = torch.Generator().manual_seed(1)
    return (torch.rand(t, b, 2, 6, 6, generator=g) < 0.4).float()


@pytest.mark.parametrize("discretization", ["euler", "exp"])
def test_round_trip_same_outputs(discretization: str, tmp_path: Path) -> None:
    layers = _conv_net()
    xs = _inputs()
    want, want_state = _run(sf.sequential(*layers), _states(2), xs)
    assert 0 < want.sum() < want.numel()  # the test sees spikes and silence
    graph = to_nir(layers, (2, 6, 6), dt=DT, discretization=discretization)  # type: ignore[arg-type]
    nir.write(tmp_path / "net.nir", graph)
    for g in (graph, nir.read(tmp_path / "net.nir")):
        net = from_nir(g, dt=DT, discretization=discretization)  # type: ignore[arg-type]
        assert net.input_shape == (2, 6, 6)
        assert net.state_shapes == ((6, 6, 6), (12,), (5,))
        got, got_state = _run(net.step, net.init(2), xs)
        assert torch.equal(got, want)
        for a, b in zip(got_state, want_state, strict=True):
            for x, y in zip(a, b, strict=True):
                torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)


def test_export_writes_documented_constants() -> None:
    beta, alpha, thr = 0.9, 0.6, 1.25
    layers = [
        partial(F.linear, weight=torch.eye(3)),
        sf.neuron(sf.synaptic_step, sf.SynapticParams(alpha, beta, thr), reset="zero"),
    ]
    graph = to_nir(layers, (3,), dt=DT)
    node = graph.nodes["1"]
    assert isinstance(node, nir.CubaLIF)
    np.testing.assert_allclose(node.tau_mem, DT / (1 - beta))
    np.testing.assert_allclose(node.tau_syn, DT / (1 - alpha))
    np.testing.assert_allclose(node.r, 1 / (1 - beta))  # (dt/tau_mem) * r = 1
    np.testing.assert_allclose(node.w_in, 1 / (1 - alpha))  # (dt/tau_syn) * w_in = 1
    np.testing.assert_array_equal(node.v_threshold, np.full(3, thr))
    np.testing.assert_array_equal(node.v_reset, np.zeros(3))
    np.testing.assert_array_equal(node.v_leak, np.zeros(3))
    assert isinstance(graph.nodes["0"], nir.Linear)


def _nir_lif_graph(n: int, *, tau: float, r: float, v_leak: float, v_th: float) -> Any:
    ones = np.ones(n)
    return nir.NIRGraph.from_list(
        nir.Linear(weight=np.eye(n)),
        nir.LIF(tau=tau * ones, r=r * ones, v_leak=v_leak * ones, v_threshold=v_th * ones),
    )


def _record(net: Any, xs: Tensor) -> tuple[Tensor, Tensor]:
    """Spikes and membranes of the last neuron layer."""
    step = sf.sequential(*net.layers, record_states=True)
    (spikes, states), _ = sf.scan(step, net.init(xs.shape[1], dtype=xs.dtype), xs)
    return spikes, states[-1].v


def test_nir_lif_membrane_closed_form() -> None:
    # tau v' = (v_leak - v) + r I, Euler: v_t = v_inf (1 - b^t), v_inf = v_leak + r I, b = 1-dt/tau.
    tau, r, v_leak, current = 20e-3, 2.0, 0.3, torch.tensor([0.1, 0.2, 0.4], dtype=torch.float64)
    net = from_nir(
        _nir_lif_graph(3, tau=tau, r=r, v_leak=v_leak, v_th=1e9), dt=DT, dtype=torch.float64
    )
    xs = current.expand(60, 1, 3)
    spikes, v = _record(net, xs)
    steps = torch.arange(1, 61, dtype=torch.float64)[:, None, None]
    want = (v_leak + r * current) * (1 - (1 - DT / tau) ** steps)
    torch.testing.assert_close(v, want, rtol=1e-12, atol=1e-12)
    assert spikes.sum() == 0


def test_nir_lif_spike_time_matches_the_ode() -> None:
    # Continuous time: v(t) = v_inf (1 - exp(-t/tau)) reaches v_th at t* = -tau log(1 - v_th/v_inf).
    tau, r, v_th = 10e-3, 1.5, 1.0
    current = torch.tensor([0.8, 1.0, 2.0], dtype=torch.float64)
    graph = _nir_lif_graph(3, tau=tau, r=r, v_leak=0.0, v_th=v_th)
    t_star = -tau * torch.log(1 - v_th / (r * current))
    for dt in (1e-4, 1e-5):
        for disc in ("euler", "exp"):
            net = from_nir(graph, dt=dt, discretization=disc, dtype=torch.float64)  # type: ignore[arg-type]
            steps = int(2 * t_star.max() / dt)
            spikes, _ = _record(net, current.expand(steps, 1, 3))
            first = spikes[:, 0].argmax(0).double() + 1  # 1-based step of the first spike
            assert spikes[:, 0].sum(0).min() >= 1
            err = (first * dt - t_star) / dt
            if disc == "exp":  # exact at the grid points: the first step at or after t*
                assert bool(((err >= -1e-6) & (err < 1 + 1e-6)).all()), err
            else:  # Euler's error in the crossing time is O(dt) too
                assert bool((err.abs() < 2).all()), err


def test_nir_lif_hard_reset_to_zero() -> None:
    net = from_nir(
        _nir_lif_graph(1, tau=5e-3, r=1.0, v_leak=0.0, v_th=0.5), dt=DT, dtype=torch.float64
    )
    spikes, v = _record(net, torch.full((40, 1, 1), 2.0, dtype=torch.float64))
    assert spikes.sum() > 3
    assert torch.all(v[spikes.bool()] == 0)  # same-step reset to v_reset = 0


def _euler_cuba(
    xs: Tensor, tau_syn: float, tau_mem: float, r: float, w_in: float, v_th: float
) -> tuple[Tensor, Tensor]:
    """NIR's CubaLIF ODEs, forward Euler, current updated first (the documented order)."""
    i = torch.zeros_like(xs[0])
    v = torch.zeros_like(xs[0])
    zs, vs = [], []
    for s in xs:
        i = i + DT / tau_syn * (-i + w_in * s)
        v = v + DT / tau_mem * (-v + r * i)
        z = (v > v_th).to(v.dtype)
        v = v * (1 - z)
        zs.append(z)
        vs.append(v)
    return torch.stack(zs), torch.stack(vs)


def test_nir_cubalif_matches_the_euler_odes() -> None:
    n = 4
    tau_syn, tau_mem, r, w_in, v_th = 5e-3, 10e-3, 3.0, 2.0, 0.2
    ones = np.ones(n)
    graph = nir.NIRGraph.from_list(
        nir.Affine(weight=np.eye(n) * 1.5, bias=np.zeros(n)),
        nir.CubaLIF(
            tau_syn=tau_syn * ones,
            tau_mem=tau_mem * ones,
            r=r * ones,
            v_leak=0 * ones,
            v_threshold=v_th * ones,
            w_in=w_in * ones,
        ),
    )
    net = from_nir(graph, dt=DT, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    xs = (torch.rand(80, 2, n, generator=g, dtype=torch.float64) < 0.3).double()
    spikes, v = _record(net, xs)
    want_z, want_v = _euler_cuba(1.5 * xs, tau_syn, tau_mem, r, w_in, v_th)
    assert 0 < want_z.sum() < want_z.numel()
    assert torch.equal(spikes, want_z)
    # our membrane is NIR's; our current is NIR's scaled by (1 - beta) r
    torch.testing.assert_close(v, want_v, rtol=1e-10, atol=1e-12)


def test_nir_if_integrates_r_dt_per_step() -> None:
    graph = nir.NIRGraph.from_list(
        nir.IF(r=np.array([100.0, 250.0]), v_threshold=np.array([1.0, 1.0]))
    )
    net = from_nir(graph, dt=DT, dtype=torch.float64)
    spikes, v = _record(net, torch.ones(10, 1, 2, dtype=torch.float64))
    # v grows by dt*r = 0.1 and 0.25 per step; the second neuron fires at v = 1.25 > 1 on step 5.
    torch.testing.assert_close(v[:4, 0, 0], torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64))
    assert spikes[:, 0, 1].nonzero().flatten().tolist() == [4, 9]


def test_import_export_import_keeps_r_and_v_leak() -> None:
    graph = _nir_lif_graph(3, tau=8e-3, r=2.5, v_leak=0.2, v_th=1.0)
    net = from_nir(graph, dt=DT, dtype=torch.float64)
    assert any(layer.fn.func is input_gain for layer in net.layers)  # type: ignore[union-attr]
    again = to_nir(net.layers, (3,), dt=DT)
    node = again.nodes["1"]
    for field in ("tau", "r", "v_leak", "v_threshold"):
        np.testing.assert_allclose(
            getattr(node, field), getattr(graph.nodes["lif"], field), rtol=1e-12
        )
    xs = torch.rand(30, 2, 3, dtype=torch.float64)
    net2 = from_nir(again, dt=DT, dtype=torch.float64)
    assert torch.equal(_record(net, xs)[0], _record(net2, xs)[0])


def test_sum_pool_flatten_threshold_scale_round_trip() -> None:
    graph = nir.NIRGraph.from_list(
        nir.SumPool2d(
            kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])
        ),
        nir.Flatten(input_type={"input": np.array([1, 2, 2])}, start_dim=0, end_dim=-1),
        nir.Scale(scale=np.array([1.0, 2.0, 3.0, 4.0])),
        nir.Threshold(threshold=np.full(4, 2.5)),
        type_check=False,
    )
    graph.nodes["input"] = nir.Input(input_type={"input": np.array([1, 4, 4])})
    net = from_nir(graph, dt=DT, dtype=torch.float64)
    x = torch.ones(1, 1, 1, 4, 4, dtype=torch.float64)  # [T, B, C, H, W]; each 2x2 window sums to 4
    y, _ = sf.scan(net.step, net.init(1), x)
    assert y.flatten().tolist() == [1.0, 1.0, 1.0, 1.0]  # 4*[1,2,3,4] > 2.5
    x = torch.full((1, 1, 1, 4, 4), 0.125, dtype=torch.float64)  # sums 0.5 -> 0.5, 1, 1.5, 2
    y, _ = sf.scan(net.step, net.init(1), x)
    assert y.flatten().tolist() == [0.0, 0.0, 0.0, 0.0]
    again = from_nir(to_nir(net.layers, (1, 4, 4), dt=DT), dt=DT, dtype=torch.float64)
    y2, _ = sf.scan(again.step, again.init(1), x * 8)
    assert y2.flatten().tolist() == [1.0, 1.0, 1.0, 1.0]


# --- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("reset", "delay"), [("subtract", False), ("none", False), ("zero", True)])
def test_export_refuses_resets_nir_cannot_express(reset: str, delay: bool) -> None:
    with pytest.raises(ValueError, match=r"lossy_reset=True"):
        to_nir(_conv_net(reset, delay), (2, 6, 6), dt=DT)


def test_lossy_reset_is_explicit_and_restored_from_metadata(tmp_path: Path) -> None:
    layers = _conv_net("subtract", True)
    xs = _inputs()
    want, _ = _run(sf.sequential(*layers), _states(2), xs)
    graph = to_nir(layers, (2, 6, 6), dt=DT, lossy_reset=True)
    assert graph.nodes["1"].metadata == {"snnfunc_reset": "subtract", "snnfunc_reset_delay": 1}
    nir.write(tmp_path / "lossy.nir", graph)
    restored = from_nir(nir.read(tmp_path / "lossy.nir"), dt=DT)
    assert torch.equal(_run(restored.step, restored.init(2), xs)[0], want)
    hard = from_nir(graph, dt=DT, use_metadata=False)  # what every other tool simulates
    want_hard, _ = _run(sf.sequential(*_conv_net("zero")), _states(2), xs)
    assert torch.equal(_run(hard.step, hard.init(2), xs)[0], want_hard)
    assert not torch.equal(want_hard, want)


def test_import_refuses_nonzero_v_reset_and_cubalif_leak() -> None:
    one = np.ones(1)
    lif = nir.LIF(tau=one, r=one, v_leak=0 * one, v_threshold=one, v_reset=0.5 * one)
    with pytest.raises(ValueError, match="v_reset must be 0"):
        from_nir(nir.NIRGraph.from_list(lif), dt=DT)
    cuba = nir.CubaLIF(tau_syn=one, tau_mem=one, r=one, v_leak=one, v_threshold=one)
    with pytest.raises(ValueError, match="v_leak must be 0"):
        from_nir(nir.NIRGraph.from_list(cuba), dt=DT)


def test_import_refuses_branching_graphs_and_unknown_nodes() -> None:
    w = nir.Linear(weight=np.eye(2))
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([2])),
            "a": w,
            "b": nir.Linear(weight=np.eye(2)),
            "output": nir.Output(output_type=np.array([2])),
        },
        edges=[("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")],
    )
    with pytest.raises(ValueError, match="feed-forward chains"):
        from_nir(graph, dt=DT)
    with pytest.raises(ValueError, match="no snnfunc equivalent"):
        from_nir(nir.NIRGraph.from_list(nir.I(r=np.ones(2))), dt=DT)
    with pytest.raises(ValueError, match="as a whole number of steps"):  # Delay: k dt only
        from_nir(nir.NIRGraph.from_list(nir.Delay(delay=np.full(2, 0.5 * DT))), dt=DT)
    with pytest.raises(TypeError, match="nir.NIRGraph"):
        from_nir({"nodes": {}}, dt=DT)


def test_export_errors_name_the_layer() -> None:
    with pytest.raises(TypeError, match=r"layers\[0\].*functools.partial"):
        to_nir([lambda x: x], (2,), dt=DT)
    bad = sf.LIFParams(torch.full((3,), 0.9), 1.0)
    with pytest.raises(ValueError, match=r"layers\[1\] \(lif\).*does not broadcast"):
        to_nir(
            [partial(F.linear, weight=torch.eye(2)), sf.neuron(sf.lif_step, bad, reset="zero")],
            (2,),
            dt=DT,
        )
    with pytest.raises(ValueError, match=r"layers\[0\] \(lif\): decay must lie in"):
        to_nir([sf.neuron(sf.lif_step, sf.LIFParams(1.0, 1.0), reset="zero")], (2,), dt=DT)
    with pytest.raises(TypeError, match=r"layers\[0\].*no NIR equivalent"):
        to_nir([partial(torch.relu)], (2,), dt=DT)
    with pytest.raises(ValueError, match="dt must be > 0"):
        to_nir([partial(F.linear, weight=torch.eye(2))], (2,), dt=0.0)


# --- time constants -------------------------------------------------------------------------
@pytest.mark.parametrize("disc", ["euler", "exp"])
def test_decay_tau_inverse(disc: str) -> None:
    decay = torch.tensor([0.0 if disc == "euler" else 1e-3, 0.5, 0.9, 0.999], dtype=torch.float64)
    tau = tau_from_decay(decay, 1e-3, discretization=disc)  # type: ignore[arg-type]
    torch.testing.assert_close(decay_from_tau(tau, 1e-3, discretization=disc), decay)  # type: ignore[arg-type]
    assert math.isclose(float(decay_from_tau(0.01, 1e-3, discretization="exp")), math.exp(-0.1))
    with pytest.raises(ValueError, match=r"decay must lie in"):
        tau_from_decay(1.0, 1e-3)
    with pytest.raises(ValueError, match="discretization must be one of"):
        decay_from_tau(1.0, 1e-3, discretization="rk4")  # type: ignore[arg-type]


def test_export_runs_identically_in_snntorch() -> None:
    # snnTorch 1.0's NIR importer hard-codes dt = 1e-4, beta = 1 - dt/tau and asserts r = tau/dt:
    # our export with dt=1e-4 is read back as Leaky/Synaptic(reset_mechanism="zero", no delay).
    snntorch_nir = import_peer("snntorch.import_nir")  # needs nirtorch
    g = torch.Generator().manual_seed(0)
    layers = [
        partial(
            F.linear,
            weight=torch.randn(20, 10, generator=g) * 0.5,
            bias=torch.randn(20, generator=g) * 0.1,
        ),
        sf.neuron(sf.lif_step, sf.LIFParams(0.9, 1.0), reset="zero"),
        partial(F.linear, weight=torch.randn(5, 20, generator=g) * 0.5),
        sf.neuron(sf.synaptic_step, sf.SynapticParams(0.8, 0.7, 0.5), reset="zero"),
    ]
    xs = (torch.rand(30, 4, 10, generator=g) < 0.5).float()
    want, _ = sf.scan(sf.sequential(*layers), (sf.lif_init((4, 20)), sf.synaptic_init((4, 5))), xs)
    module = snntorch_nir.import_from_nir(to_nir(layers, (10,), dt=1e-4))
    got = []
    with torch.no_grad():
        for x in xs:
            out = module(x)
            got.append(out[0] if isinstance(out, tuple) else out)
    assert 0 < want.sum() < want.numel()
    assert torch.equal(torch.stack(got), want)


@settings(max_examples=25)
@given(
    beta=st.floats(0.0, 0.99),
    alpha=st.floats(0.0, 0.99),
    threshold=st.floats(0.1, 2.0),
    disc=st.sampled_from(["euler", "exp"]),
    seed=st.integers(0, 2**16),
)
def test_round_trip_any_constants(
    beta: float, alpha: float, threshold: float, disc: str, seed: int
) -> None:
    if disc == "exp":
        assume(beta > 1e-3 and alpha > 1e-3)  # exp(-dt/tau) > 0: no finite tau for a zero decay
    g = torch.Generator().manual_seed(seed)
    layers = [
        partial(F.linear, weight=torch.randn(6, 4, generator=g, dtype=torch.float64)),
        sf.neuron(sf.lif_step, sf.LIFParams(beta, threshold), reset="zero"),
        partial(F.linear, weight=torch.randn(3, 6, generator=g, dtype=torch.float64)),
        sf.neuron(sf.synaptic_step, sf.SynapticParams(alpha, beta, threshold), reset="zero"),
    ]
    xs = torch.randn(15, 2, 4, generator=g, dtype=torch.float64)
    state = (
        sf.lif_init((2, 6), dtype=torch.float64),
        sf.synaptic_init((2, 3), dtype=torch.float64),
    )
    want, want_state = sf.scan(sf.sequential(*layers), state, xs)
    net = from_nir(
        to_nir(layers, (4,), dt=DT, discretization=disc),
        dt=DT,
        discretization=disc,
        dtype=torch.float64,
    )  # type: ignore[arg-type]
    got, got_state = sf.scan(net.step, net.init(2, dtype=torch.float64), xs)
    # float64: beta survives the round trip to ~1e-16, far below a membrane's distance to threshold
    assert torch.equal(got, want)
    for a, b in zip(got_state, want_state, strict=True):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, rtol=1e-9, atol=1e-9)


def test_li_and_cuba_li_readouts() -> None:
    from snnfunc.interop.nir import CubaLIParams, LIParams, cuba_li_step, li_step

    n, tau, r, v_leak = 3, 20e-3, 2.0, 0.3
    ones = np.ones(n)
    graph = nir.NIRGraph.from_list(
        nir.Linear(weight=np.eye(n)), nir.LI(tau=tau * ones, r=r * ones, v_leak=v_leak * ones)
    )
    net = from_nir(graph, dt=DT, dtype=torch.float64)
    current = torch.tensor([0.1, -0.2, 0.4], dtype=torch.float64)
    v, _ = sf.scan(net.step, net.init(1, dtype=torch.float64), current.expand(50, 1, n))
    steps = torch.arange(1, 51, dtype=torch.float64)[:, None, None]
    want = (v_leak + r * current) * (1 - (1 - DT / tau) ** steps)  # the output is the membrane
    torch.testing.assert_close(v, want, rtol=1e-12, atol=1e-12)

    tau_syn, tau_mem, w_in = 5e-3, 10e-3, 2.0
    cuba = nir.CubaLI(
        tau_syn=tau_syn * ones,
        tau_mem=tau_mem * ones,
        r=r * ones,
        v_leak=0 * ones,
        w_in=w_in * ones,
    )
    net = from_nir(nir.NIRGraph.from_list(cuba), dt=DT, dtype=torch.float64)
    xs = torch.rand(40, 2, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    v, _ = sf.scan(net.step, net.init(2, dtype=torch.float64), xs)
    _, want_v = _euler_cuba(xs, tau_syn, tau_mem, r, w_in, v_th=math.inf)
    torch.testing.assert_close(v, want_v, rtol=1e-10, atol=1e-12)

    g = torch.Generator().manual_seed(2)
    layers = [
        partial(F.linear, weight=torch.randn(6, 4, generator=g)),
        sf.neuron(sf.lif_step, sf.LIFParams(0.9, 0.5), reset="zero"),
        partial(F.linear, weight=torch.randn(3, 6, generator=g)),
        sf.neuron(li_step, LIParams(0.8)),
        partial(F.linear, weight=torch.randn(2, 3, generator=g)),
        sf.neuron(cuba_li_step, CubaLIParams(0.5, 0.7)),
    ]
    graph = to_nir(layers, (4,), dt=DT)
    assert [type(graph.nodes[k]).__name__ for k in ("3", "5")] == ["LI", "CubaLI"]
    xs = torch.rand(20, 2, 4, generator=g)
    state = (sf.lif_init((2, 6)), sf.lif_init((2, 3)), sf.synaptic_init((2, 2)))
    want, _ = sf.scan(sf.sequential(*layers), state, xs)
    net = from_nir(graph, dt=DT)
    got, _ = sf.scan(net.step, net.init(2), xs)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_trained_fcn_model_exports() -> None:
    from snnfunc.app.models import ModelConfig, build_model, forward
    from snnfunc.interop.nir import model_layers

    config = ModelConfig(
        arch="fcn",
        input_shape=(1, 8, 8),
        hidden=(16,),
        neuron="synaptic",
        reset="zero",
        reset_delay=False,
        num_steps=10,
    )
    model = build_model(config, seed=0)
    x = torch.rand(3, 1, 8, 8)
    want = forward(model.params, x, config).spikes  # [T, B, 10]
    graph = to_nir(model_layers(model), config.input_shape, dt=DT)
    net = from_nir(graph, dt=DT)
    got, _ = sf.scan(net.step, net.init(3), x, num_steps=10)
    assert torch.equal(got, want)
    # snnTorch-style defaults (subtract reset, one step late) have no NIR form: refused
    default = build_model(ModelConfig(arch="fcn", input_shape=(1, 8, 8), hidden=(16,)), seed=0)
    with pytest.raises(ValueError, match="lossy_reset"):
        to_nir(model_layers(default), (1, 8, 8), dt=DT)
    conv = ModelConfig(arch="conv", input_shape=(1, 16, 16), hidden=(2, 2), padding=2)
    with pytest.raises(ValueError, match="max pooling"):
        model_layers(build_model(conv, seed=0))


def test_snnfunc_train_with_nir_reset_exports_exactly(tmp_path: Path) -> None:
    """`snnfunc train --reset zero --no-reset-delay`: the checkpoint exports without
    ``lossy_reset`` and runs the same after ``nir.write`` / ``nir.read`` (spikes bit for bit);
    the exported layers keep the configured surrogate (same input gradients as the model)."""
    from snnfunc.app.checkpoint import load_checkpoint
    from snnfunc.app.cli import main
    from snnfunc.interop.nir import model_layers
    from snnfunc.surrogate import triangle

    out = tmp_path / "run"
    argv = ["train", "--reset", "zero", "--no-reset-delay", "--surrogate", "triangle"]
    argv += ["--epochs", "1", "--max-batches", "3", "--num-steps", "8", "--hidden", "16"]
    assert main([*argv, "--no-progress", "--no-plots", "--out", str(out)]) == 0
    model, _ = load_checkpoint(out)
    assert (model.config.reset, model.config.reset_delay) == ("zero", False)
    layers = model_layers(model)
    nir.write(tmp_path / "net.nir", to_nir(layers, model.config.input_shape, dt=DT))
    net = from_nir(nir.read(tmp_path / "net.nir"), dt=DT, spike_fn=triangle())
    x = torch.rand(5, *model.config.input_shape, generator=torch.Generator().manual_seed(0))
    want = model(x).spikes
    got, _ = sf.scan(net.step, net.init(5), x, num_steps=8)
    assert want.sum() > 0 and torch.equal(got, want)

    def input_grad(run: Any) -> Tensor:
        leaf = x.clone().requires_grad_()
        (grad,) = torch.autograd.grad(run(leaf).square().sum(), leaf)
        return grad

    states = model.network.init(5)
    by_layers = input_grad(lambda v: sf.scan(sf.sequential(*layers), states, v, num_steps=8)[0])
    torch.testing.assert_close(by_layers, input_grad(lambda v: model(v).spikes))
    assert by_layers.abs().sum() > 0


@pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated")
def test_a_decay_outside_0_1_is_refused_naming_dt_and_tau() -> None:
    """Norse 1.1 writes ``tau = 1e-5`` for its default ``tau_mem_inv = 100``; imported with the
    natural ``dt = 1e-3``, Euler's decay would be ``1 - dt/tau = -99`` (a membrane that flips
    sign every step, thousands of spurious spikes). That is refused, naming the fix."""
    norse = import_peer("norse.torch")
    model = norse.SequentialState(torch.nn.Linear(10, 64, bias=False), norse.LIFBoxCell())
    graph = norse.to_nir(model, torch.randn(1, 10))
    with pytest.raises(ValueError, match=r"tau = 1e-05 with dt = 0.001 .*-99.*dt <= tau"):
        from_nir(graph, dt=1e-3)
    # a synaptic node's two time constants too: from snnfunc's own export, read with a dt far
    # larger than the one it was written with
    layers = [
        partial(F.linear, weight=torch.ones(2, 3)),
        sf.neuron(sf.synaptic_step, sf.SynapticParams(0.5, 0.9, 1.0), reset="zero"),
    ]
    graph = to_nir(layers, (3,), dt=DT)
    with pytest.raises(ValueError, match=r"tau_(syn|mem) = .* outside the stable range"):
        from_nir(graph, dt=1.0)
