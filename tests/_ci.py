"""What CI guarantees, and tests that need it: there a missing peer or data set fails, not skips.

CI (``.ci/run``, any service that sets ``CI=true``) installs the peer libraries (snnTorch, Norse,
SpikingJelly, nirtorch) and has the MNIST files at ``../shared/data/mnist``. Locally, tests that
need them skip when they are absent; under CI a skip would hide a broken setup, so they fail.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from snnfunc.app.data import default_mnist_dir


def in_ci() -> bool:
    """``CI`` is set to anything but empty, ``0``, ``false`` or ``no``."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


class _MissingPeer(ModuleType):
    """Stands in for a peer library CI should have installed: using it fails the test."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(name)
        self._message = message

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # introspection (doctest, inspect.unwrap): a plain miss
            raise AttributeError(attr)
        pytest.fail(self._message, pytrace=False)


def import_peer(module: str) -> ModuleType:
    """``pytest.importorskip(module)``, except under CI: there a missing module fails every test
    that uses it, saying that CI installs it."""
    if not in_ci():
        return pytest.importorskip(module)
    try:
        return importlib.import_module(module)
    except ImportError as err:
        return _MissingPeer(
            module,
            f"{module} cannot be imported ({err}), but CI installs it (see .ci/run): fix the CI "
            "install; outside CI this test skips",
        )


def mnist_dir() -> Path:
    """The shared MNIST directory; skips where it is absent, fails under CI."""
    path = default_mnist_dir()
    if path is None:
        reason = "../shared/data/mnist not found"
        if in_ci():
            pytest.fail(f"{reason}, but CI provides the MNIST files there", pytrace=False)
        pytest.skip(reason)
    return path
