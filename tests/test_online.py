"""snnfunc.online: e-prop/OTTT gradients against BPTT (autograd over scan) in float64.

Exact where theory says so (one layer, no recurrent weights, per-step loss), for every
registered model without a recurrent matrix and a user's cell, with and without a detached
reset; measured as an approximation (cosine) for recurrent weights and several layers.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any, NamedTuple

import hypothesis.strategies as st
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from torch import Tensor
from torch.utils._pytree import tree_flatten, tree_unflatten

import snnfunc as sf
from snnfunc import online
from snnfunc.neurons import MODELS, NeuronModel
from snnfunc.online._method import REQUIRED

F64 = torch.float64
T, B, N, M = 9, 3, 4, 5
BETA = 0.9

ELEMENTWISE = [m for m in MODELS.values() if all(f.kind != "matrix" for f in m.params.values())]


def _neuron_params(model: NeuronModel[Any, Any], n: int) -> Any:
    """The model's default params as ``[n]`` float64 tensors, spread around the default."""
    spread = torch.linspace(0.9, 1.1, n, dtype=F64)
    values = {
        name: float(spec.default) * spread if spec.default else torch.full((n,), 0.05, dtype=F64)
        for name, spec in model.params.items()
    }
    params = model.params_type(**values)
    return model.constrain(params) if model.constrain is not None else params


def _inputs(seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    xs = torch.rand(T, B, M, generator=gen, dtype=F64) * 2
    w = torch.randn(N, M, generator=gen, dtype=F64)
    target = torch.rand(T, B, N, generator=gen, dtype=F64)
    return xs, w, target


def _mse(target: Tensor) -> Callable[[Tensor, int], Tensor]:
    return lambda y, t: ((y - target[t]) ** 2).sum()


def bptt(
    step: Callable[..., Any], state: Any, xs: Tensor, params: Any, loss_fn: Callable[..., Tensor]
) -> tuple[Any, Any]:
    """The reference: autograd through :func:`snnfunc.scan`, the structure of ``params``."""
    leaves, spec = tree_flatten(params)
    live = [x.clone().requires_grad_() if isinstance(x, Tensor) else x for x in leaves]
    bound = tree_unflatten(live, spec)
    ys, final = sf.scan(lambda s, x: step(s, x, bound), state, xs)
    loss = sum(loss_fn(ys[t], t) for t in range(xs.shape[0]))
    tensors = [x for x in live if isinstance(x, Tensor)]
    grads = iter(torch.autograd.grad(loss, tensors, allow_unused=True, materialize_grads=True))
    return tree_unflatten(
        [next(grads) if isinstance(x, Tensor) else None for x in live], spec
    ), final


def assert_grads_close(got: Any, want: Any, rtol: float = 1e-10) -> None:
    got_leaves, got_spec = tree_flatten(got)
    want_leaves, want_spec = tree_flatten(want)
    assert got_spec == want_spec
    for g, w in zip(got_leaves, want_leaves, strict=True):
        if w is None:
            assert g is None
            continue
        assert g.shape == w.shape and not g.requires_grad
        assert (g - w).norm() <= rtol * w.norm() + 1e-300, (g, w)


def cosine(got: Any, want: Any) -> float:
    a = torch.cat([x.flatten() for x in tree_flatten(got)[0] if x is not None])
    b = torch.cat([x.flatten() for x in tree_flatten(want)[0] if x is not None])
    return float(a @ b / (a.norm() * b.norm()))


def _layer(model: NeuronModel[Any, Any], **firing: Any) -> Callable[..., Any]:
    def step(state: Any, x: Tensor, params: Any) -> Any:
        w, neuron = params
        return model.step(state, F.linear(x, w), neuron, **firing)

    return step


# --- exactness: one layer, no recurrent weights, per-step loss --------------------------------
@pytest.mark.parametrize("detach_reset", [True, False], ids=["detached", "reset-in-grad"])
@pytest.mark.parametrize("model", ELEMENTWISE, ids=lambda m: m.name)
def test_eprop_equals_bptt_for_every_elementwise_model(
    model: NeuronModel[Any, Any], detach_reset: bool
) -> None:
    xs, w, target = _inputs()
    step = _layer(model, detach_reset=detach_reset)
    params = (w, _neuron_params(model, N))
    state = model.init((B, N), dtype=F64)
    got, final = online.grad(step, state, xs, params, _mse(target))
    want, want_final = bptt(step, state, xs, params, _mse(target))
    assert_grads_close(got, want)
    assert all(torch.equal(a, b) for a, b in zip(final, want_final, strict=True))
    assert float(want[0].norm()) > 0  # the comparison is not between zeros


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("reset_delay", [False, True], ids=["immediate", "delayed"])
def test_eprop_equals_bptt_for_lif_reset_options(reset: str, reset_delay: bool) -> None:
    xs, w, target = _inputs(1)
    model = MODELS["lif"]
    step = _layer(model, reset=reset, reset_delay=reset_delay, detach_reset=False)
    params = (w, model.params_type(torch.tensor(BETA, dtype=F64), torch.tensor(1.0, dtype=F64)))
    state = model.init((B, N), dtype=F64)
    got, _ = online.grad(step, state, xs, params, _mse(target))
    assert_grads_close(got, bptt(step, state, xs, params, _mse(target))[0])


class DendriteState(NamedTuple):
    d: Tensor  # dendritic current
    v: Tensor  # somatic membrane


class DendriteParams(NamedTuple):
    w: Tensor  # input weight [N, M]
    alpha: Tensor  # dendritic decay [N]
    beta: Tensor  # somatic decay, a scalar tensor
    gain: float  # not learned: no gradient


def _sigmoid_spike(x: Tensor) -> Tensor:
    """A user's spike: Heaviside forward, sigmoid derivative, written with detach only."""
    smooth = torch.sigmoid(4 * x)
    return (x > 0).to(x.dtype) + smooth - smooth.detach()


def _dendrite_step(detach: bool) -> Callable[..., Any]:
    """A user's two-compartment cell (not in the registry), zero reset."""

    def step(state: DendriteState, x: Tensor, p: DendriteParams) -> Any:
        d = p.alpha * state.d + F.linear(x, p.w)
        v = p.beta * state.v + p.gain * torch.tanh(d)
        z = _sigmoid_spike(v - 1.0)
        gate = z.detach() if detach else z
        return z, DendriteState(d, v * (1 - gate))

    return step


@pytest.mark.parametrize("detach", [True, False], ids=["detached", "reset-in-grad"])
def test_eprop_equals_bptt_for_a_users_cell(detach: bool) -> None:
    xs, w, target = _inputs(2)
    params = DendriteParams(
        w, torch.linspace(0.5, 0.8, N, dtype=F64), torch.tensor(0.85, dtype=F64), 1.5
    )
    state = DendriteState(torch.zeros(B, N, dtype=F64), torch.zeros(B, N, dtype=F64))
    step = _dendrite_step(detach)
    got, _ = online.grad(step, state, xs, params, _mse(target))
    want, _ = bptt(step, state, xs, params, _mse(target))
    assert got.gain is None
    assert_grads_close(got, want)


@settings(max_examples=8)
@given(
    steps=st.integers(1, 6),
    batch=st.integers(1, 3),
    neurons=st.integers(1, 4),
    inputs=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_eprop_equals_bptt_for_lif_any_size(
    steps: int, batch: int, neurons: int, inputs: int, seed: int
) -> None:
    gen = torch.Generator().manual_seed(seed)
    xs = torch.rand(steps, batch, inputs, generator=gen, dtype=F64) * 3
    params = (
        torch.randn(neurons, inputs, generator=gen, dtype=F64),
        sf.LIFParams(torch.rand(neurons, generator=gen, dtype=F64), torch.tensor(1.0, dtype=F64)),
    )
    step = _layer(MODELS["lif"])
    state = sf.lif_init((batch, neurons), dtype=F64)
    loss = lambda y, t: (y * (t + 1)).sum()  # noqa: E731
    got, _ = online.grad(step, state, xs, params, loss)
    assert_grads_close(got, bptt(step, state, xs, params, loss)[0])


def test_a_single_neuron_with_an_input_weight_row_is_exact() -> None:
    """``W: [1, M]`` for one neuron is a weight (its row is the neuron), not a neuron param."""
    xs, w, target = _inputs(10)
    params = (w[:1], sf.LIFParams(torch.tensor([BETA], dtype=F64), 1.0))
    step, state = _layer(MODELS["lif"]), sf.lif_init((B, 1), dtype=F64)
    got, _ = online.grad(step, state, xs, params, _mse(target[..., :1]))
    assert_grads_close(got, bptt(step, state, xs, params, _mse(target[..., :1]))[0])


def test_rlif_with_zero_recurrent_weights_is_exact_including_the_recurrent_weight() -> None:
    xs, w, target = _inputs(3)
    params = (
        w,
        sf.RLIFParams(torch.full((N,), BETA, dtype=F64), 1.0, torch.zeros(N, N, dtype=F64)),
    )
    step = _layer(MODELS["rlif"])
    state = sf.rlif_init((B, N), dtype=F64)
    got, _ = online.grad(step, state, xs, params, _mse(target), recurrent=True)
    want, _ = bptt(step, state, xs, params, _mse(target))
    assert float(want[1].weight.norm()) > 0
    assert_grads_close(got, want)


def test_ottt_equals_bptt_for_lif_with_detached_subtract_reset() -> None:
    xs, w, target = _inputs(4)
    params = (w, sf.LIFParams(torch.full((N,), BETA, dtype=F64), torch.ones(N, dtype=F64)))
    step = _layer(MODELS["lif"])
    state = sf.lif_init((B, N), dtype=F64)
    got, _ = online.grad(step, state, xs, params, _mse(target), method="ottt", leak=BETA)
    assert_grads_close(got, bptt(step, state, xs, params, _mse(target))[0])


def test_ottt_differs_from_bptt_where_the_jacobian_is_not_the_leak() -> None:
    xs, w, target = _inputs(4)
    params = (w, sf.LIFParams(torch.full((N,), BETA, dtype=F64), torch.ones(N, dtype=F64)))
    step = _layer(MODELS["lif"], detach_reset=False)
    state = sf.lif_init((B, N), dtype=F64)
    got, _ = online.grad(step, state, xs, params, _mse(target), method="ottt", leak=BETA)
    want, _ = bptt(step, state, xs, params, _mse(target))
    assert (got[0] - want[0]).norm() > 1e-3 * want[0].norm()
    assert cosine(got, want) > 0.5


# --- where it approximates -------------------------------------------------------------------
def _spikes(seed: int, steps: int, features: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, B, features, generator=gen, dtype=F64) < 0.3).to(F64)


def test_eprop_on_recurrent_weights_approximates_bptt() -> None:
    n, steps = 8, 15
    gen = torch.Generator().manual_seed(5)
    xs = _spikes(5, steps, M)
    params = (
        torch.randn(n, M, generator=gen, dtype=F64),
        sf.RLIFParams(
            torch.full((n,), BETA, dtype=F64),
            torch.ones(n, dtype=F64),
            0.3 * torch.randn(n, n, generator=gen, dtype=F64) / n**0.5,
        ),
    )
    target = torch.rand(steps, B, n, generator=gen, dtype=F64)
    step = _layer(MODELS["rlif"])
    state = sf.rlif_init((B, n), dtype=F64)
    got, _ = online.grad(step, state, xs, params, _mse(target), recurrent=True)
    want, _ = bptt(step, state, xs, params, _mse(target))
    assert (got[0] - want[0]).norm() > 1e-8 * want[0].norm()  # not exact ...
    assert cosine(got, want) > 0.9  # ... but aligned (docs/online.md has the measured numbers)


def _two_layers(readout: Callable[..., Tensor]) -> Callable[..., Any]:
    def net(states: Any, x: Tensor, params: Any) -> Any:
        (w1, p1), (w2, fb, p2) = params
        z, s1 = sf.lif_step(states[0], F.linear(x, w1), p1)
        _, s2 = sf.lif_step(states[1], readout(z, w2, fb), p2, reset="none")
        return s2.v, (s1, s2)

    return net


def _two_layer_problem() -> tuple[Any, Any, Tensor, Callable[..., Tensor]]:
    hidden, classes, steps = 8, 3, 12
    gen = torch.Generator().manual_seed(6)
    params = (
        (
            torch.randn(hidden, M, generator=gen, dtype=F64),
            sf.LIFParams(torch.full((hidden,), BETA, dtype=F64), 1.0),
        ),
        (
            torch.randn(classes, hidden, generator=gen, dtype=F64) / 2,
            torch.randn(classes, hidden, generator=gen, dtype=F64) / 2,
            sf.LIFParams(torch.full((classes,), 0.8, dtype=F64), 1.0),
        ),
    )
    states = (sf.lif_init((B, hidden), dtype=F64), sf.lif_init((B, classes), dtype=F64))
    target = torch.rand(steps, B, classes, generator=gen, dtype=F64)
    return params, states, _spikes(6, steps, M), _mse(target)


def test_eprop_on_two_layers_approximates_bptt_and_the_readout_is_exact() -> None:
    params, states, xs, loss = _two_layer_problem()
    step = _two_layers(lambda z, w, fb: F.linear(z, w))
    got, _ = online.grad(step, states, xs, params, loss, layers=True)
    want, _ = bptt(step, states, xs, params, loss)
    assert got[1][1] is not None and float(got[1][1].abs().max()) == 0  # unused feedback
    assert_grads_close(got[1][0], want[1][0])  # the readout's own weight: exact
    assert (got[0][0] - want[0][0]).norm() > 1e-8 * want[0][0].norm()
    assert cosine(got[0][0], want[0][0]) > 0.9


def test_random_feedback_changes_the_hidden_signal_only() -> None:
    params, states, xs, loss = _two_layer_problem()
    symmetric = _two_layers(lambda z, w, fb: F.linear(z, w))
    random = _two_layers(online.feedback_linear)
    sym, _ = online.grad(symmetric, states, xs, params, loss, layers=True)
    rnd, _ = online.grad(random, states, xs, params, loss, layers=True)
    assert_grads_close(rnd[1][0], sym[1][0])
    assert (rnd[0][0] - sym[0][0]).norm() > 1e-3 * sym[0][0].norm()
    # feedback = the readout's weight is symmetric feedback again
    same = (params[0], (params[1][0], params[1][0].clone(), params[1][2]))
    again, _ = online.grad(random, states, xs, same, loss, layers=True)
    assert_grads_close(again[0], sym[0])


def test_feedback_linear_forward_and_gradients() -> None:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(B, M, generator=gen, dtype=F64, requires_grad=True)
    w = torch.randn(2, M, generator=gen, dtype=F64, requires_grad=True)
    fb = torch.randn(2, M, generator=gen, dtype=F64)
    y = online.feedback_linear(x, w, fb)
    torch.testing.assert_close(y, F.linear(x, w), rtol=0, atol=1e-15)
    g = torch.randn(B, 2, generator=gen, dtype=F64)
    gx, gw = torch.autograd.grad(y, (x, w), g)
    torch.testing.assert_close(gx, g @ fb)
    torch.testing.assert_close(gw, g.T @ x)
    with pytest.raises(ValueError, match="feedback must have the shape of weight"):
        online.feedback_linear(x, w, fb[:1])


# --- the registry: every method runs and returns plain tensors -------------------------------
def _options(method: online.Method) -> dict[str, Any]:
    """Values for a method's required options (OTTT's leak: the neurons' beta)."""
    assert set(k for k, v in method.options.items() if v is REQUIRED) <= {"leak"}
    return {k: BETA for k, v in method.options.items() if v is REQUIRED}


@pytest.mark.parametrize("method", list(online.METHODS.values()), ids=lambda m: m.name)
def test_every_method_returns_plain_gradients_shaped_like_params(method: online.Method) -> None:
    xs, w, target = _inputs(8)
    live = (
        w.clone().requires_grad_(),
        sf.LIFParams(torch.full((N,), BETA, dtype=F64, requires_grad=True), 1.0),
    )
    step = _layer(MODELS["lif"])
    grads, final = online.grad(
        step,
        sf.lif_init((B, N), dtype=F64),
        xs,
        live,
        _mse(target),
        method=method.name,
        **_options(method),
    )
    assert grads[1].threshold is None
    for g, p in ((grads[0], live[0]), (grads[1].beta, live[1].beta)):
        assert g.shape == p.shape and g.dtype == F64
        assert not g.requires_grad and g.grad_fn is None and bool(g.isfinite().all())
    assert not final.v.requires_grad
    assert method.summary


def _live_tensors() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is torch.Tensor)


@pytest.mark.parametrize("method", list(online.METHODS.values()), ids=lambda m: m.name)
def test_nothing_of_the_time_history_stays_alive(method: online.Method) -> None:
    """After the call only its results are alive (2 gradients and the final state), for T = 5
    as for T = 50: no per-step tensor or autograd graph is kept."""
    xs, w, target = _inputs(9)
    params = (w, sf.LIFParams(torch.full((N,), BETA, dtype=F64), 1.0))
    step, state = _layer(MODELS["lif"]), sf.lif_init((B, N), dtype=F64)
    grown = []
    for steps in (5, 50):
        inputs = xs[:1].expand(steps, B, M).clone()
        before = _live_tensors()
        result = online.grad(
            step,
            state,
            inputs,
            params,
            _mse(target[:1].expand(steps, B, N)),
            method=method.name,
            **_options(method),
        )
        grown.append(_live_tensors() - before)
        del result
    assert grown == [3, 3]


def test_methods_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        online.METHODS["x"] = online.METHODS["eprop"]  # type: ignore[index]


# --- bad input --------------------------------------------------------------------------------
def _args() -> dict[str, Any]:
    xs, w, target = _inputs()
    return {
        "step": _layer(MODELS["lif"]),
        "state": sf.lif_init((B, N), dtype=F64),
        "xs": xs,
        "params": (w, sf.LIFParams(BETA, 1.0)),
        "loss_fn": _mse(target),
    }


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"xs": [1.0]}, TypeError, r"xs must be a tensor \[T, ...\]"),
        ({"xs": torch.tensor(1.0)}, ValueError, "leading time dim"),
        ({"xs": torch.zeros(0, B, M, dtype=F64)}, ValueError, "T = 0"),
        ({"loss_fn": 3}, TypeError, "loss_fn must be callable"),
        ({"step": None}, TypeError, "step must be callable"),
        ({"method": "bptt"}, ValueError, r"method must be one of \('eprop', 'ottt'\)"),
        ({"method": "ottt"}, TypeError, r"needs the option\(s\) \['leak'\]"),
        ({"method": "ottt", "leak": "beta"}, TypeError, "leak must be a finite float"),
        ({"leak": 0.9}, TypeError, r"takes no options \['leak'\]"),
        ({"loss_fn": lambda y, t: y}, ValueError, r"scalar \(0-d\) tensor per step"),
        ({"layers": True}, TypeError, "plain tuple or list with one entry per layer"),
    ],
)
def test_bad_input_raises_a_clear_error(change: dict[str, Any], error: type, match: str) -> None:
    args = {**_args(), **change}
    with pytest.raises(error, match=match):
        online.grad(**args)


def test_a_coupled_step_without_recurrent_is_refused() -> None:
    xs, w, target = _inputs()
    params = (w, sf.RLIFParams(BETA, 1.0, torch.ones(N, N, dtype=F64)))
    with pytest.raises(ValueError, match="pass recurrent=True"):
        online.grad(
            _layer(MODELS["rlif"]), sf.rlif_init((B, N), dtype=F64), xs, params, _mse(target)
        )


def test_a_weight_whose_rows_are_not_the_neurons_is_refused() -> None:
    args = _args()
    args["params"] = (torch.zeros(M, N, dtype=F64), sf.LIFParams(BETA, 1.0))
    with pytest.raises(ValueError, match=r"weight \[N, ...\].*N = 4 neurons"):
        online.grad(**args)


def test_state_leaves_of_several_shapes_need_layers() -> None:
    params, states, xs, loss = _two_layer_problem()
    step = _two_layers(lambda z, w, fb: F.linear(z, w))
    with pytest.raises(ValueError, match="pass layers=True"):
        online.grad(step, states, xs, params, loss)


def test_a_step_that_changes_the_state_structure_is_refused() -> None:
    args = _args()
    args["step"] = lambda s, x, p: (s.v, (s.v,))
    args["params"] = (torch.zeros(N, M, dtype=F64),)
    with pytest.raises(ValueError, match="state of the structure it was given"):
        online.grad(**args)


# --- the training path and the benchmarks -----------------------------------------------------
def test_online_training_learns_the_digits() -> None:
    from snnfunc.app.data import load_digits
    from snnfunc.app.online_train import OnlineConfig, fit

    train, test = load_digits("train"), load_digits("test")
    config = OnlineConfig(learning="eprop", hidden=32, epochs=1, max_batches=15, lr=1e-2)
    result = fit(config, (train.images, train.labels), (test.images[:200], test.labels[:200]))
    assert result["accuracy"][-1] > 0.5, result  # chance: 0.1


@pytest.mark.parametrize("learning", ["bptt", *online.METHODS])
@pytest.mark.parametrize("neuron", ["lif", "rlif"])
def test_online_training_gradients_match_bptt_on_the_readout(learning: str, neuron: str) -> None:
    """The readout weight's gradient is exact for every method (its traces are its own layer's,
    a leaky integrator without reset), while the hidden weights are approximated."""
    from snnfunc.app.online_train import OnlineConfig, build, gradients, step_losses

    config = OnlineConfig(learning=learning, neuron=neuron, hidden=8, num_steps=5)
    step, params, init = build(config)
    gen = torch.Generator().manual_seed(0)
    xs = torch.rand(5, 4, 64, generator=gen)
    loss = step_losses(torch.tensor([0, 1, 2, 3]), 5)
    got = gradients(config, step, init(4), xs, params, loss)
    want = gradients(OnlineConfig(learning="bptt"), step, init(4), xs, params, loss)
    torch.testing.assert_close(got[1][0], want[1][0], rtol=1e-4, atol=1e-6)
    assert cosine(got[0][0], want[0][0]) > 0.8


def test_cli_online_prints_accuracy_and_refuses_bad_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from snnfunc.app.cli import main

    argv = ["online", "--epochs", "1", "--max-batches", "2", "--hidden", "8", "--num-steps", "3"]
    assert main([*argv, "--learning", "ottt", "--neuron", "rlif", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["config"]["learning"] == "ottt" and len(result["accuracy"]) == 1
    assert main([*argv, "--hidden", "0"]) == 2
    assert "hidden must be >= 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["online_memory.py", "online_vs_bptt.py"])
def test_benchmark_script_runs_quick(script: str) -> None:
    import subprocess
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / script
    out = subprocess.run(
        [sys.executable, str(path), "--quick", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| eprop |" in out.stdout or "| lif | eprop |" in out.stdout
