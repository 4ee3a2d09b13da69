"""Bit-for-bit reproducibility: the same seed or generator gives the same bits.

Randomness in snnfunc is always an argument (a ``torch.Generator`` or a noise tensor), so
encoders, attacks and (on CPU) training repeat exactly when the seed repeats; a different seed
changes the result, which shows the seed is really used. Drawing from a generator leaves the
global random state alone, and the deterministic encoders draw nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import pytest
import torch
import torch.nn.functional as F

import snnfunc as sf
from snnfunc.bernoulli import uniform_noise


def _x() -> torch.Tensor:
    return torch.rand(8, 12, generator=torch.Generator().manual_seed(42))


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _snn_loss(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Rate-encode with ``generator``, run a small LIF network, cross-entropy."""
    w = torch.linspace(-1.0, 1.0, 3 * 12).reshape(3, 12)
    spikes = sf.encode.rate(x, 8, generator=generator)
    net = sf.sequential(partial(F.linear, weight=w), sf.neuron(sf.lif_step, sf.LIFParams(0.9, 0.5)))
    out, _ = sf.scan(net, (sf.lif_init((x.shape[0], 3)),), spikes)
    return F.cross_entropy(out.sum(0), torch.arange(x.shape[0]) % 3)


def _rate_in_transform(g: torch.Generator) -> torch.Tensor:
    """Inside a torch.func transform rate draws with torch.rand (not the 16-bit path)."""
    spikes, _ = torch.func.vjp(lambda x: sf.encode.rate(x, 10, generator=g), _x())
    return spikes  # type: ignore[no-any-return]


def _pgd(g: torch.Generator) -> torch.Tensor:
    # the random start and every loss evaluation's rate code draw from the one generator
    loss = partial(_snn_loss, generator=g)
    return sf.attacks.pgd(loss, _x(), 0.1, 0.03, 3, random_start=True, generator=g)


RANDOM: dict[str, Callable[[torch.Generator], torch.Tensor]] = {
    "rate": lambda g: sf.encode.rate(_x(), 10, generator=g),
    "rate-uint8": lambda g: sf.encode.rate(_x(), 10, generator=g, out_dtype=torch.uint8),
    "rate-gain": lambda g: sf.encode.rate(_x(), 10, gain=0.5, generator=g),
    "rate-in-transform": _rate_in_transform,
    "rate-vmap-different": lambda g: torch.func.vmap(
        lambda x: sf.encode.rate(x, 10, generator=g), randomness="different"
    )(_x()),
    "bernoulli": lambda g: sf.bernoulli(_x(), generator=g),
    "uniform_noise": lambda g: uniform_noise((8, 12), generator=g),
    "pgd-random-start": _pgd,
}


@contextmanager
def _global_rng_untouched() -> Iterator[None]:
    """The body must neither read nor advance torch's global generator."""
    before = torch.get_rng_state()
    yield
    assert torch.equal(torch.get_rng_state(), before), "the global random state was used"


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_seeded_randomness_repeats_for_the_same_seed_and_changes_with_it(name: str) -> None:
    draw = RANDOM[name]
    with _global_rng_untouched():
        first, again, other = draw(_gen(0)), draw(_gen(0)), draw(_gen(1))
    assert torch.equal(first, again), "the same seed must give the same bits"
    assert not torch.equal(first, other), "another seed must give other bits"
    # the global seed plays no part when a generator is given
    torch.manual_seed(123)
    assert torch.equal(draw(_gen(0)), first)


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_one_generator_advances_and_its_state_replays(name: str) -> None:
    """Two calls on one generator draw fresh noise; restoring its state replays the first."""
    draw, g = RANDOM[name], _gen(5)
    state = g.get_state()
    first, second = draw(g), draw(g)
    assert not torch.equal(first, second), "a second call must draw new noise"
    g.set_state(state)
    assert torch.equal(draw(g), first)


def test_without_a_generator_the_global_seed_decides() -> None:
    def draw() -> list[torch.Tensor]:
        return [sf.encode.rate(_x(), 10), sf.bernoulli(_x()), uniform_noise((8, 12))]

    torch.manual_seed(7)
    first = draw()
    torch.manual_seed(7)
    again = draw()
    torch.manual_seed(8)
    other = draw()
    for a, b, c in zip(first, again, other, strict=True):
        assert torch.equal(a, b) and not torch.equal(a, c)


_NOISE = torch.rand(10, 8, 12, generator=_gen(1))
DETERMINISTIC: dict[str, Callable[[], torch.Tensor]] = {
    "latency": lambda: sf.encode.latency(_x(), 20, normalize=True),
    "latency_times": lambda: sf.encode.latency_times(_x(), 20, tau=2.0),
    "delta": lambda: sf.encode.delta(torch.cumsum(_x() - 0.5, 0), threshold=0.3),
    "population": lambda: sf.encode.population(_x(), 5),
    "rate-explicit-noise": lambda: sf.encode.rate(
        _x(), 10, noise=torch.rand(10, 8, 12, generator=_gen(1))
    ),
    "fgsm": lambda: sf.attacks.fgsm(lambda x: (x * torch.linspace(-1, 1, 12)).sum(), _x(), 0.1),
    "pgd-fixed-start": lambda: sf.attacks.pgd(lambda x: (x * x).sum(), _x(), 0.1, 0.03, 3),
}


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_deterministic_encoders_and_attacks_draw_no_randomness(name: str) -> None:
    """No hidden random draw: the global state is untouched and the global seed changes
    nothing."""
    encode = DETERMINISTIC[name]
    torch.manual_seed(0)
    with _global_rng_untouched():
        first = encode()
    torch.manual_seed(1)
    assert torch.equal(encode(), first)
