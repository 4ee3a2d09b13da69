"""Compile generated C kernels on first use, cache them by the hash of their source, load them.

A kernel is one small C translation unit with OpenMP and no torch headers, loaded with
:mod:`ctypes`; it reuses torch's OpenMP runtime (the same ``libgomp.so.1``). Building prints one
line to stderr (what, where, how long); nothing is rebuilt while its source is unchanged.

Environment:
    ``SNNFUNC_EXT_DIR``: where built kernels are cached (default ``$XDG_CACHE_HOME/snnfunc`` or
    ``~/.cache/snnfunc``). A build is keyed by the source, the flags, the compiler and the CPU's
    vector capability, and written atomically (safe with parallel builders).
    ``SNNFUNC_NO_EXT=1``: never build or load a kernel (the graph executor runs instead).
    ``CC``: the C compiler (default ``cc``, ``gcc``, ``clang``).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

__all__ = ["compile_kernel", "disabled_reason", "BUILDS"]

BUILDS: list[dict[str, Any]] = []
"""Every build (or cache hit) of this process: name, path, seconds (for reports and tests)."""
_LOADED: dict[str, ctypes.CDLL] = {}


def cache_dir() -> Path:
    env = os.environ.get("SNNFUNC_EXT_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "snnfunc"


def compiler() -> str | None:
    return _find_compiler(os.environ.get("CC"))


@functools.cache
def _find_compiler(cc: str | None) -> str | None:
    for name in (cc, "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def flags() -> list[str]:
    arch = {"AVX512": ["-march=x86-64-v4"], "AVX2": ["-march=x86-64-v3"]}
    capability = torch.backends.cpu.get_cpu_capability()
    base = [
        "-O2",
        "-std=c11",
        "-fPIC",
        "-shared",
        "-ffp-contract=off",  # no fused multiply-add: round like torch's eager ops
        "-fno-trapping-math",  # lets the selects of `where`/clamp vectorise (same values)
        "-fno-math-errno",
        "-fopenmp",
    ]
    if "clang" not in _compiler_version(compiler() or ""):
        base.append("--param=vect-epilogues-nomask=0")  # GCC: faster builds, no vector tails
    return base + (arch.get(capability, []) if sys.platform.startswith("linux") else [])


@functools.cache
def _compiler_version(cc: str) -> str:
    if not cc:
        return ""
    try:
        done = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60)
    except OSError:
        return ""
    return done.stdout


def disabled_reason() -> str | None:
    """Why no kernel can be built here, or ``None``."""
    if os.environ.get("SNNFUNC_NO_EXT", "") not in ("", "0"):
        return "disabled by SNNFUNC_NO_EXT"
    if compiler() is None:
        return "no C compiler found (set CC)"
    return None


def compile_kernel(source: str, name: str, symbol: str) -> Any:
    """The function ``symbol`` of ``source``, compiled (or found in the cache) and loaded.

    Raises:
        OSError, subprocess.SubprocessError: the build failed (the compiler's last words are in
            the message).
    """
    cc = compiler()
    assert cc is not None, "check disabled_reason() first"
    key = hashlib.sha256(
        "\0".join([source, " ".join(flags()), _compiler_version(cc)]).encode()
    ).hexdigest()[:20]
    if key not in _LOADED:
        out_dir = cache_dir()
        target = out_dir / f"snnfunc_{key}.so"
        start = time.perf_counter()
        built = False
        if not target.exists():
            out_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp_src = tempfile.mkstemp(suffix=".c", dir=out_dir)
            with os.fdopen(fd, "w") as f:
                f.write(source)
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=out_dir)
            os.close(fd)
            try:
                done = subprocess.run(
                    [cc, *flags(), tmp_src, "-o", tmp, "-lm"],
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                if done.returncode != 0:
                    raise OSError(f"{cc} failed on {name}: {done.stderr[-1500:]}")
                os.replace(tmp, target)  # atomic: concurrent builders agree on the result
                built = True
            finally:
                for path in (tmp, tmp_src):
                    if os.path.exists(path):
                        os.unlink(path)
        seconds = time.perf_counter() - start
        if built:
            print(
                f"snnfunc: built the {name} kernel in {seconds:.2f} s ({target})", file=sys.stderr
            )
        BUILDS.append({"name": name, "path": str(target), "seconds": seconds, "built": built})
        _LOADED[key] = ctypes.CDLL(str(target))
    fn = getattr(_LOADED[key], symbol)
    fn.restype = None
    return fn
