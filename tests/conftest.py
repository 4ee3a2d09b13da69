"""Test configuration: hypothesis profiles and shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from _ci import mnist_dir
from hypothesis import HealthCheck, settings

# `ci`: stable and bounded (derandomized, no deadline: torch's first calls are slow).
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# `dev`: the same, randomized, for finding new counterexamples locally.
settings.register_profile(
    "dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def mnist() -> Path:
    """The shared MNIST IDX directory (``../shared/data/mnist``): skips without it, except under
    CI (``CI=true``), where it fails."""
    return mnist_dir()
