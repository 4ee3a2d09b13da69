"""Straight-through Bernoulli: exact forward, straight-through backward, explicit randomness."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.func import grad, jacrev, vmap

from snnfunc.bernoulli import _bits16, _sample, bernoulli, uniform_noise

probs = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=16)


@given(p=probs, seed=st.integers(0, 2**31 - 1))
def test_forward_is_indicator_of_noise_below_p(p: list[float], seed: int) -> None:
    pt = torch.tensor(p, dtype=torch.float64)
    u = uniform_noise((5, len(p)), generator=torch.Generator().manual_seed(seed), dtype=pt.dtype)
    z = bernoulli(pt, u)
    assert z.shape == (5, len(p)) and z.dtype == pt.dtype
    assert torch.equal(z, (u < pt).to(pt.dtype))


FLOAT_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_noise_equal_to_p_does_not_spike(dtype: torch.dtype) -> None:
    """z = 1[u < p] is strict: u == p gives 0. On a grid exact in every dtype, p_i = i/16 and
    u_j = j/16 (j < 16, noise lies in [0, 1)) spike exactly where j < i: so p = 0 never spikes,
    not even at u = 0, and p = 1 always does."""
    grid = torch.arange(17, dtype=torch.float64) / 16
    p, u = grid.to(dtype)[:, None], grid[:-1].to(dtype)[None, :]
    z = bernoulli(p, u)
    want = torch.ones(17, 16, dtype=dtype).tril(diagonal=-1)  # want[i, j] = 1[j < i]
    assert z.dtype == dtype and torch.equal(z, want)
    assert not z[0].any() and z[-1].all()


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_p_zero_and_one_are_exact_with_drawn_noise(dtype: torch.dtype) -> None:
    """The documented exact ends: with the noise drawn in p's dtype (in float16/bfloat16 an
    exact 0 turns up every few hundred draws) p = 0 gives no spike and p = 1 a spike, always."""
    n = 20_000
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        assert not bernoulli(torch.zeros(n, dtype=dtype), generator=g).any()
        assert bernoulli(torch.ones(n, dtype=dtype), generator=g).all()
    # the extreme noise values themselves: 0 and the largest value below 1
    below_one = torch.nextafter(torch.tensor(1.0, dtype=dtype), torch.tensor(0.0, dtype=dtype))
    u = torch.stack([torch.tensor(0.0, dtype=dtype), below_one])
    assert torch.equal(bernoulli(torch.zeros(2, dtype=dtype), u), torch.zeros(2, dtype=dtype))
    assert torch.equal(bernoulli(torch.ones(2, dtype=dtype), u), torch.ones(2, dtype=dtype))


@given(p=probs, scale=st.floats(0.0, 10.0), data=st.data())
def test_backward_is_straight_through_times_scale(p: list[float], scale: float, data) -> None:
    pt = torch.tensor(p, dtype=torch.float64)
    u = torch.rand(3, len(p), dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    w = torch.tensor(data.draw(st.lists(st.floats(-5, 5), min_size=3, max_size=3)))
    w = w.to(torch.float64).view(3, 1)

    def f(p: torch.Tensor) -> torch.Tensor:
        return (bernoulli(p, u, grad_scale=scale) * w).sum()

    # d/dp sum_t w_t z_t = scale * sum_t w_t (the broadcast over T is summed back to p's shape)
    torch.testing.assert_close(grad(f)(pt), torch.full_like(pt, scale * float(w.sum())))


def test_torch_bernoulli_has_no_input_gradient_but_ours_does() -> None:
    """The motivating problem: torch.bernoulli (snnTorch's rate) cuts the gradient to p."""
    p = torch.full((4, 3), 0.5, requires_grad=True)
    torch.manual_seed(0)
    torch.bernoulli(p).sum().backward()
    assert p.grad is None or torch.count_nonzero(p.grad) == 0
    p.grad = None
    bernoulli(p, generator=torch.Generator().manual_seed(0)).sum().backward()
    assert p.grad is not None
    torch.testing.assert_close(p.grad, torch.ones_like(p))


def test_explicit_noise_works_under_vmap_without_randomness_flag() -> None:
    g = torch.Generator().manual_seed(1)
    p = torch.rand(6, 4, generator=g)
    u = torch.rand(6, 4, generator=g)
    batched = vmap(bernoulli)(p, u)
    assert torch.equal(batched, bernoulli(p, u))
    grads = vmap(grad(lambda p, u: bernoulli(p, u, grad_scale=2.0).sum()))(p, u)
    torch.testing.assert_close(grads, torch.full_like(p, 2.0))
    jac = jacrev(lambda p: bernoulli(p, u[0]))(p[0])
    torch.testing.assert_close(jac, torch.eye(4))


def test_drawing_inside_vmap_follows_the_randomness_flag() -> None:
    p = torch.full((5, 64), 0.5)
    with pytest.raises(RuntimeError, match="randomness"):
        vmap(bernoulli)(p)
    same = vmap(bernoulli, randomness="same")(p)
    assert all(torch.equal(row, same[0]) for row in same)
    different = vmap(bernoulli, randomness="different")(p)
    assert not all(torch.equal(row, different[0]) for row in different)


def test_seeding_same_seed_identical_different_seeds_differ() -> None:
    p = torch.full((1000,), 0.5)
    a = bernoulli(p, generator=torch.Generator().manual_seed(7))
    b = bernoulli(p, generator=torch.Generator().manual_seed(7))
    c = bernoulli(p, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8, torch.bool, torch.float64])
def test_bits16_threshold_gives_exact_quantised_probability(dtype: torch.dtype) -> None:
    """Over all 2**16 int16 values, ceil(p * 2**16 - 1/2) (clipped to [0, 2**16]) spike: the
    probability is exact at 0 and 1 and within 2**-17 of p elsewhere, for every output dtype."""
    every = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16)
    cases = [0.0, 1.0, 0.5, 1 / 3, 2**-17, 3 * 2**-17, 1 - 2**-17, 1 - 2**-16, 1 - 2**-18, 0.123456]
    for p in cases:
        z = _sample(torch.tensor([p], dtype=torch.float64), every, dtype)
        assert z.dtype == dtype and z.shape == (65536,)
        count = int(z.sum())
        assert count == min(65536, max(0, math.ceil(p * 65536 - 0.5))), p
        assert abs(count / 65536 - p) <= 2**-17, p


def test_bits16_noise_is_uniform_and_seeded() -> None:
    a = _bits16((4, 50_000), torch.Generator().manual_seed(3), torch.device("cpu"))
    b = _bits16((4, 50_000), torch.Generator().manual_seed(3), torch.device("cpu"))
    assert a.dtype == torch.int16 and a.shape == (4, 50_000) and torch.equal(a, b)
    # the top (sign) bit and the low bit of each sample are fair coins
    n = a.numel()
    for bit in ((a < 0), (a & 1).bool()):
        assert abs(bit.double().mean().item() - 0.5) < 4 / n**0.5


def test_errors_name_the_argument() -> None:
    with pytest.raises(TypeError, match="p must be a floating-point"):
        bernoulli(torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]"):
        bernoulli(torch.tensor([0.5, 1.5]))
    with pytest.raises(TypeError, match="u must be a floating-point"):
        bernoulli(torch.tensor([0.5]), torch.tensor([1]))
    with pytest.raises(ValueError, match="u of shape"):
        bernoulli(torch.rand(3), torch.rand(4))
    with pytest.raises(ValueError, match="either u"):
        bernoulli(torch.rand(3), torch.rand(3), generator=torch.Generator())


def test_value_check_is_skipped_under_vmap() -> None:
    """Out-of-range p can't be detected on batched values: it acts as clipped (u < p)."""
    p = torch.tensor([[-0.5, 1.5]])
    u = torch.tensor([[0.0, 0.999]])
    assert torch.equal(vmap(bernoulli)(p, u), torch.tensor([[0.0, 1.0]]))
