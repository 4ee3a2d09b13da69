"""The C++ kernel of the fused scans: built on first use with the system C++ compiler, cached.

The kernel (``_kernel.cpp``) is plain C++ with OpenMP and a C ABI, loaded with :mod:`ctypes`; it
includes no torch or pybind headers (which dominate a ``torch.utils.cpp_extension`` build), so a
cold build is one small translation unit: about 6.6 s of CPU with g++ 12 at ``-O2``.
It reuses torch's OpenMP runtime (same ``libgomp.so.1``), so it shares torch's thread pool.

Environment:
    ``SNNFUNC_EXT_DIR``: where built kernels are cached (default
    ``$XDG_CACHE_HOME/snnfunc`` or ``~/.cache/snnfunc``). A build is keyed by a hash of the source,
    the flags, the compiler and the CPU's vector capability, written atomically (safe with
    parallel test workers).
    ``SNNFUNC_NO_EXT=1``: never build or load the kernel (the pure-torch path is used).
    ``CXX``: the compiler (default ``c++``/``g++``).

If no compiler is found or the build fails, :func:`load` returns ``None`` once per process and
the fused scans use the pure-torch implementation (:mod:`snnfunc.fused._torch`).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import Tensor

from snnfunc import surrogate

if TYPE_CHECKING:  # (a runtime import would be circular: _function imports this module)
    from snnfunc.fused._function import Grads, Inputs

__all__ = ["load", "available", "build_info", "forward", "backward", "surrogate_id"]

_SOURCE = Path(__file__).with_name("_kernel.cpp")
_ABI = 3
_state: dict[str, Any] = {}


def surrogate_id(spike_fn: Any) -> int | None:
    """The kernel's case of a built-in surrogate (:data:`snnfunc.surrogate.SURROGATES`) with a
    float (or no) hyperparameter, else None (a ``custom()`` one never reaches the kernel)."""
    if not isinstance(spike_fn, surrogate.Surrogate) or isinstance(spike_fn.hyper, Tensor):
        return None
    spec = surrogate.SURROGATES.get(spike_fn.kind or "")
    return spec.kernel_case if spec is not None else None


def _cache_dir() -> Path:
    env = os.environ.get("SNNFUNC_EXT_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "snnfunc"


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


def _flags() -> list[str]:
    arch = {"AVX512": ["-march=x86-64-v4"], "AVX2": ["-march=x86-64-v3"]}
    capability = torch.backends.cpu.get_cpu_capability()
    flags = ["-O2", "-std=c++17", "-fPIC", "-shared", "-ffp-contract=off", "-fopenmp"]
    return flags + (arch.get(capability, []) if sys.platform.startswith("linux") else [])


def _build(cxx: str) -> Path:
    source = _SOURCE.read_bytes()
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60)
    key = hashlib.sha256(
        source + " ".join(_flags()).encode() + version.stdout.encode() + str(_ABI).encode()
    ).hexdigest()[:16]
    out_dir = _cache_dir()
    target = out_dir / f"snnfunc_fused_{key}.so"
    if target.exists():
        _state["build_seconds"] = 0.0
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out_dir)
    os.close(fd)
    start = time.perf_counter()
    try:
        subprocess.run(
            [cxx, *_flags(), str(_SOURCE), "-o", tmp],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
        os.replace(tmp, target)  # atomic: concurrent builders agree on the result
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _state["build_seconds"] = time.perf_counter() - start
    return target


def load() -> ctypes.CDLL | None:
    """The kernel library, building it on first use; ``None`` when unavailable."""
    if "lib" in _state:
        lib: ctypes.CDLL | None = _state["lib"]
        return lib
    lib = None
    _state["error"] = None
    if os.environ.get("SNNFUNC_NO_EXT", "") not in ("", "0"):
        _state["error"] = "disabled by SNNFUNC_NO_EXT"
    elif (cxx := _compiler()) is None:
        _state["error"] = "no C++ compiler found (set CXX)"
    else:
        try:
            path = _build(cxx)
            candidate = ctypes.CDLL(str(path))
            if candidate.snnfunc_abi_version() == _ABI:
                lib = candidate
                _state["path"] = str(path)
                for fn in (candidate.snnfunc_forward, candidate.snnfunc_backward):
                    fn.restype = None
            else:
                _state["error"] = f"stale kernel at {path}"
        except (OSError, subprocess.SubprocessError) as err:
            detail = (getattr(err, "stderr", "") or "")[-1500:]  # the compiler's last words
            _state["error"] = f"{type(err).__name__}: {err} {detail}".strip()
    _state["lib"] = lib
    return lib


def available() -> bool:
    """Whether the C++ kernel is built and loaded (builds it if needed)."""
    return load() is not None


def build_info() -> dict[str, Any]:
    """Where the kernel lives, how long its build took in this process, or why it is missing."""
    load()
    return {k: v for k, v in _state.items() if k != "lib"}


def _ptr(t: Tensor | None) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr() if t is not None else None)


def chunk_size(num_steps: int, itemsize: int, has_i: bool) -> int:
    """Neurons per work item: long contiguous rows (each step of a chunk is one row of every
    [T, M] tensor, so short rows cost a TLB miss and a prefetch restart each), with the
    backward's scratch (4-5 buffers of T x chunk) kept within ~2 MiB per thread."""
    per_neuron = (5 if has_i else 4) * (num_steps + 1) * itemsize
    return max(64, min(4096, ((2 << 20) // per_neuron) // 16 * 16))


def _args(
    cfg: Any, m: int, itemsize: int, has_i: bool, extra: tuple[int, ...] = ()
) -> ctypes.Array[ctypes.c_int64]:
    chunk = chunk_size(cfg.num_steps, itemsize, has_i)
    # One thread for small problems (as torch's grain size): waking a team costs more.
    big = cfg.num_steps * m >= 32768
    threads = max(1, min(torch.get_num_threads() if big else 1, -(-m // chunk)))
    values = (
        cfg.num_steps,
        m,
        0 if cfg.static else m,
        int(has_i),
        ("subtract", "zero", "none").index(cfg.reset),
        int(cfg.reset_delay),
        int(cfg.detach_reset),
        surrogate_id(cfg.spike_fn) or 0,
        chunk,
        threads,
        *extra,
    )
    values = values + (0,) * (16 - len(values))
    return (ctypes.c_int64 * 16)(*values)


def _param(p: Tensor | float | None, shape: torch.Size, dtype: torch.dtype) -> tuple[Any, float]:
    """A param as (full contiguous buffer or None, scalar value)."""
    if p is None:
        return None, 1.0
    if isinstance(p, Tensor):
        if p.numel() == 1:
            return None, float(p.detach().reshape(()).to(dtype).item())
        return p.detach().to(dtype).expand(shape).contiguous(), 0.0
    return None, float(torch.tensor(p, dtype=dtype).item())


class _Prepared(NamedTuple):
    x: Tensor
    v0: Tensor
    i0: Tensor | None
    buffers: tuple[Any, ...]  # the full param buffers: they must outlive the kernel call
    params: list[Any]  # the kernel's param arguments: buffer pointers, then scalars


def _prepare(inputs: Inputs) -> _Prepared:
    """Contiguous ``x, v0, i0`` and the kernel's param arguments."""
    v0 = inputs.v0.contiguous()
    i0 = inputs.i0.contiguous() if inputs.i0 is not None else None
    (pa, sa), (pb, sb), (pt, st) = (
        _param(p, v0.shape, v0.dtype) for p in (inputs.alpha, inputs.beta, inputs.thr)
    )
    params = [_ptr(pa), _ptr(pb), _ptr(pt), *map(ctypes.c_double, (sa, sb, st))]
    return _Prepared(inputs.x.contiguous(), v0, i0, (pa, pb, pt), params)


def forward(inputs: Inputs, cfg: Any) -> tuple[Tensor, Tensor, Tensor | None]:
    lib = load()
    assert lib is not None
    x, v0, i0, buffers, params = _prepare(inputs)
    spikes = torch.empty((cfg.num_steps, *v0.shape), dtype=v0.dtype)
    v_t = torch.empty_like(v0)
    i_t = torch.empty_like(v0) if i0 is not None else None
    args = _args(cfg, v0.numel(), x.element_size(), i0 is not None)
    lib.snnfunc_forward(
        ctypes.c_int64(x.element_size()),
        args,
        _ptr(x),
        _ptr(v0),
        _ptr(i0),
        *params,
        _ptr(spikes),
        _ptr(v_t),
        _ptr(i_t),
    )
    del buffers  # alive until here
    return spikes, v_t, i_t


def _full_to(g: Tensor | None, like: Tensor | float | None, shape: torch.Size) -> Tensor | None:
    if g is None or not isinstance(like, Tensor):
        return None
    g = g.view(shape)
    return g.sum_to_size(like.shape) if like.dim() > 0 else g.sum()


def backward(
    inputs: Inputs, cfg: Any, grads: Grads, needs: tuple[bool, ...]
) -> tuple[Tensor | None, ...]:
    lib = load()
    assert lib is not None
    x, v0, i0, buffers, params = _prepare(inputs)
    shape = v0.shape
    g_spikes, g_v, g_i = (g.contiguous() if g is not None else None for g in grads)
    hyper = cfg.spike_fn.hyper
    g_x = torch.empty_like(x)
    g_v0 = torch.empty_like(v0)
    g_i0 = torch.empty_like(v0) if i0 is not None else None
    need_alpha, need_beta, need_thr = needs[3], needs[4], needs[5]
    g_alpha = torch.empty_like(v0) if need_alpha else None
    g_beta = torch.empty_like(v0) if need_beta else None
    g_thr = torch.empty_like(v0) if need_thr else None
    flags = (need_alpha, need_beta, need_thr, g_spikes is not None, g_v is not None)
    args = _args(
        cfg, v0.numel(), x.element_size(), i0 is not None, (*map(int, flags), int(g_i is not None))
    )
    lib.snnfunc_backward(
        ctypes.c_int64(x.element_size()),
        args,
        _ptr(x),
        _ptr(v0),
        _ptr(i0),
        *params,
        ctypes.c_double(float(hyper) if hyper is not None else 0.0),
        _ptr(g_spikes),
        _ptr(g_v),
        _ptr(g_i),
        _ptr(g_x),
        _ptr(g_v0),
        _ptr(g_i0),
        _ptr(g_alpha),
        _ptr(g_beta),
        _ptr(g_thr),
    )
    del buffers  # alive until here
    return (
        g_x if needs[0] else None,
        g_v0 if needs[1] else None,
        g_i0 if needs[2] else None,
        _full_to(g_alpha, inputs.alpha, shape),
        _full_to(g_beta, inputs.beta, shape),
        _full_to(g_thr, inputs.thr, shape),
    )
