"""Contract test over every surrogate spike function.

The oracle is each surrogate's documented smooth primitive S(x): the backward of the spike must
equal autograd of S (and finite differences of S, via gradcheck), while the forward is exactly
Heaviside. Hyperparameter gradients are checked the same way against dS/dhyper.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import hypothesis.strategies as st
import pytest
import torch
from hypothesis import assume, given
from torch import Tensor
from torch.func import grad, jacrev, vmap

from snnfunc import surrogate as S


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[..., S.Surrogate]
    primitive: Callable[[Tensor, Tensor], Tensor]  # S(x, hyper), documented in the docstring
    hyper: tuple[float, float] | None  # range to draw the hyperparameter from
    kinks: Callable[[Tensor, float], Tensor] | None = None  # where S is not differentiable
    peak: Callable[[float], float] | None = None  # documented S'(0+)


def _no_kinks(x: Tensor, h: float) -> Tensor:
    return torch.zeros_like(x, dtype=torch.bool)


CASES = [
    Case(
        "atan",
        S.atan,
        lambda x, a: torch.atan(math.pi / 2 * a * x) / math.pi,
        (0.5, 20.0),
        peak=lambda a: a / 2,
    ),
    Case(
        "fast_sigmoid",
        S.fast_sigmoid,
        lambda x, k: x / (k * x.abs() + 1),
        (0.5, 100.0),
        kinks=lambda x, h: x == 0,
        peak=lambda k: 1.0,
    ),
    Case(
        "superspike",
        S.superspike,
        lambda x, k: x / (k * x.abs() + 1),
        (0.5, 200.0),
        kinks=lambda x, h: x == 0,
        peak=lambda k: 1.0,
    ),
    Case(
        "sigmoid", S.sigmoid, lambda x, k: torch.sigmoid(k * x), (0.5, 20.0), peak=lambda k: k / 4
    ),
    Case(
        "triangle",
        S.triangle,
        lambda x, w: torch.where(x.abs() < w, x / w - x * x.abs() / (2 * w**2), torch.sign(x) / 2),
        (0.2, 5.0),
        kinks=lambda x, w: (x == 0) | (x.abs() == w),
        peak=lambda w: 1 / w,
    ),
    Case(
        "boxcar",
        S.boxcar,
        lambda x, w: torch.where(x.abs() < w, x / (2 * w), torch.sign(x) / 2),
        (0.1, 5.0),
        kinks=lambda x, w: x.abs() == w,
        peak=lambda w: 1 / (2 * w),
    ),
    Case("straight_through", S.straight_through, lambda x, _: x, None, peak=lambda _: 1.0),
    Case("heaviside", S.heaviside, lambda x, _: torch.relu(x), None, kinks=lambda x, h: x == 0),
    Case(
        "custom",
        lambda: S.custom(lambda x: torch.exp(-x.abs())),
        lambda x, _: torch.sign(x) * (1 - torch.exp(-x.abs())),
        None,
        kinks=lambda x, h: x == 0,
        peak=lambda _: 1.0,
    ),
]
IDS = [c.name for c in CASES]

xs_strategy = st.lists(
    st.floats(-4.0, 4.0, allow_nan=False, allow_subnormal=False), min_size=1, max_size=12
)


def _make(case: Case, hyper: float | Tensor | None) -> S.Surrogate:
    return case.make() if hyper is None else case.make(hyper)


def _hyper(case: Case, data: st.DataObject) -> float | None:
    if case.hyper is None:
        return None
    return data.draw(st.floats(*case.hyper), label="hyper")


@pytest.mark.parametrize("case", CASES, ids=IDS)
@given(values=xs_strategy, data=st.data())
def test_forward_is_exactly_heaviside(case: Case, values: list[float], data: st.DataObject) -> None:
    x = torch.tensor(values, dtype=torch.float64)
    f = _make(case, _hyper(case, data))
    out = f(x)
    assert out.dtype == x.dtype
    assert torch.equal(out, (x > 0).to(x.dtype))


@pytest.mark.parametrize("case", CASES, ids=IDS)
@given(values=xs_strategy, data=st.data())
def test_backward_is_derivative_of_documented_primitive(
    case: Case, values: list[float], data: st.DataObject
) -> None:
    h = _hyper(case, data)
    x = torch.tensor(values, dtype=torch.float64)
    if case.kinks is not None:
        assume(not bool(case.kinks(x, h if h is not None else 0.0).any()))
    f = _make(case, h)
    got = grad(lambda x: f(x).sum())(x)
    want = grad(lambda x: case.primitive(x, torch.tensor(h or 0.0)).sum())(x)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(f.derivative(x), want)


@pytest.mark.parametrize("case", [c for c in CASES if c.peak is not None], ids=lambda c: c.name)
def test_peak_value_is_as_documented(case: Case) -> None:
    assert case.peak is not None
    h = 3.0 if case.hyper else None
    f = _make(case, h)
    tiny = torch.tensor([1e-12], dtype=torch.float64)
    torch.testing.assert_close(f.derivative(tiny).item(), case.peak(h or 0.0))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck_against_finite_differences_of_primitive(case: Case) -> None:
    """Our backward vs finite differences of the documented primitive S.

    ``f(x) - step(x)`` is 0 in value but carries our surrogate gradient; ``S(x.detach())`` adds
    S's value (gradcheck perturbs ``x`` in place, which ``x.detach()`` shares) but no gradient.
    So the numerical Jacobian is S'(x) and the analytic one is our backward.
    """
    h = 1.7 if case.hyper else None
    f = _make(case, h)
    hh = torch.tensor(h or 0.0, dtype=torch.float64)
    x = torch.tensor([-2.3, -0.61, -0.17, 0.09, 0.33, 1.27], dtype=torch.float64)
    x.requires_grad_(True)  # points away from every kink (0 and +-1.7)

    def value_of_primitive_gradient_of_surrogate(x: Tensor) -> Tensor:
        return f(x) - S.step(x) + case.primitive(x.detach(), hh)

    assert torch.autograd.gradcheck(
        value_of_primitive_gradient_of_surrogate, (x,), eps=1e-6, atol=1e-5
    )


@pytest.mark.parametrize("case", [c for c in CASES if c.hyper], ids=lambda c: c.name)
def test_learnable_hyperparameter_gets_dS_dhyper(case: Case) -> None:
    x = torch.tensor([-1.3, -0.4, -0.05, 0.07, 0.2, 0.9, 2.5], dtype=torch.float64)
    h = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    _make(case, h)(x).sum().backward()
    h2 = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    case.primitive(x, h2).sum().backward()
    assert h.grad is not None and h2.grad is not None
    torch.testing.assert_close(h.grad, h2.grad)
    # per-neuron hyperparameter: one gradient per neuron, via torch.func.grad too
    hs = torch.full((7,), 1.3, dtype=torch.float64)
    got = grad(lambda hs: _make(case, hs)(x).sum())(hs)
    want = grad(lambda hs: case.primitive(x, hs).sum())(hs)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_torch_func_transforms(case: Case) -> None:
    f = _make(case, 2.0 if case.hyper else None)
    x = torch.linspace(-2.1, 1.9, 24, dtype=torch.float64).reshape(4, 6)
    d = f.derivative(x)
    assert torch.equal(vmap(f)(x), f(x))
    torch.testing.assert_close(vmap(grad(lambda r: f(r).sum()))(x), d)
    torch.testing.assert_close(grad(lambda r: f(r).sum())(x), d)
    torch.testing.assert_close(jacrev(f)(x[0]), torch.diag(d[0]))
    # second order runs (the surrogate derivative is treated as a constant)
    gg = grad(lambda r: grad(lambda q: f(q).sum())(r).sum())(x[0])
    assert torch.isfinite(gg).all()


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_compiled_forward_then_backward_matches_eager(case: Case) -> None:
    torch._dynamo.reset()
    f = _make(case, 2.0 if case.hyper else None)
    w = torch.linspace(-1, 1, 10)

    def loss(x: Tensor) -> Tensor:
        return (f(x * 1.5 - 0.2) * w).sum()

    x1 = torch.linspace(-1.0, 1.0, 10, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    compiled = torch.compile(loss, backend="aot_eager", fullgraph=True)
    out = compiled(x1)
    out.backward()
    ref = loss(x2)
    ref.backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(x1.grad, x2.grad)


@pytest.mark.parametrize(
    ("factory", "arg"),
    [
        (S.atan, "alpha"),
        (S.fast_sigmoid, "slope"),
        (S.superspike, "alpha"),
        (S.sigmoid, "slope"),
        (S.triangle, "width"),
        (S.boxcar, "width"),
    ],
)
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), torch.tensor([1.0, 0.0])])
def test_invalid_hyperparameter_names_the_argument(
    factory: Callable[..., S.Surrogate], arg: str, bad: float | Tensor
) -> None:
    with pytest.raises(ValueError, match=f"{arg} must be > 0"):
        factory(bad)


def test_hyperparameter_type_errors() -> None:
    with pytest.raises(TypeError, match="alpha must be a float or a tensor"):
        S.atan("2")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="slope must be a float or floating-point tensor"):
        S.sigmoid(torch.tensor(2))
    with pytest.raises(TypeError, match="derivative must be callable"):
        S.custom(3.0)  # type: ignore[arg-type]


def test_docstrings_state_formula_and_peak() -> None:
    for factory in (S.atan, S.fast_sigmoid, S.superspike, S.sigmoid, S.triangle, S.boxcar):
        doc = factory.__doc__ or ""
        assert "S'(x)" in doc and "Peak" in doc, factory.__name__
