"""Load and launch the generated Triton kernels (:mod:`snnfunc.fused._emit_triton`).

Triton is optional (``pip install "snnfunc[gpu]"``): nothing here imports it until a kernel is
needed. A kernel's source is written to ``<cache>/triton/<hash>.py`` and imported from there
(Triton's ``jit`` reads a function's source file). Under ``TRITON_INTERPRET=1`` Triton runs the
same kernels on CPU tensors (its interpreter, in numpy), which is how the tests run them without
a GPU.

On a GPU the block size is tuned once per kernel and neuron count: each candidate is timed and
the fastest kept (:func:`tune`). Kernels are launched with ``enable_fp_fusion=False``: a fused
multiply-add rounds once where torch's separate ``mul`` and ``add`` round twice.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from snnfunc.fused import _build, _emit_triton
from snnfunc.fused._trace import Plan

__all__ = ["reason", "interpreting", "Kernel", "kernel", "launch", "tune", "compile_for", "CONFIGS"]

DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
CONFIGS: tuple[tuple[int, int], ...] = ((128, 4), (256, 4), (512, 4), (1024, 4), (1024, 8))
"""``(BLOCK, num_warps)`` candidates timed on a GPU."""


@functools.cache
def _import_error() -> str | None:
    if importlib.util.find_spec("triton") is None:
        return 'Triton is not installed (pip install "snnfunc[gpu]")'
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception as err:  # a broken install is a reason, not a crash
        return f"Triton failed to import ({type(err).__name__}: {err})"
    return None


def interpreting() -> bool:
    """Whether Triton runs its interpreter (``TRITON_INTERPRET=1``) instead of compiling."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def reason(plan: Plan, tensors: Sequence[Tensor]) -> str | None:
    """Why the Triton kernels cannot run these tensors, or ``None`` when they can."""
    missing = _import_error()
    if missing is not None:
        return missing
    device = tensors[0].device
    if any(t.device != device for t in tensors):
        return "the Triton kernels need every tensor on one device"
    if device.type == "cpu" and not interpreting():
        return "Triton runs CUDA tensors (CPU tensors only under TRITON_INTERPRET=1)"
    if device.type not in ("cpu", "cuda"):
        return f"Triton runs CUDA tensors, got {device}"
    dtype = tensors[0].dtype
    if dtype not in DTYPES:
        return f"the Triton kernels take float16, bfloat16, float32 or float64, got {dtype}"
    if any(t.dtype != dtype for t in tensors) or any(
        d not in (dtype, torch.bool) for d in plan.y_dtypes
    ):
        return "the Triton kernels need one dtype for every input, state, param and output"
    return None


class Kernel:
    """A loaded kernel: the jit function, its constants ``K`` (per device) and tuned blocks."""

    def __init__(self, fn: Any, consts: list[float], name: str) -> None:
        self.fn, self.name = fn, name
        self.consts = torch.tensor(consts or [0.0], dtype=torch.float64)
        self._on: dict[torch.device, Tensor] = {}
        self.blocks: dict[tuple[Any, ...], tuple[int, int]] = {}

    def constants(self, device: torch.device) -> Tensor:
        if device not in self._on:
            self._on[device] = self.consts.to(device)
        return self._on[device]


_KERNELS: dict[tuple[Any, ...], Kernel] = {}


def _load(source: str, symbol: str) -> Any:
    """``symbol`` of ``source``, written to the cache (by its hash) and imported from there."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    out_dir = _build.cache_dir() / "triton"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"k_{digest}.py"
    if not path.exists() or path.read_text() != source:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)  # atomic: a concurrent import sees the old file or the new one
    name = f"snnfunc_triton_{digest}_{int(interpreting())}"  # the jit decorator reads the mode
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, Path(path))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return getattr(module, symbol)


def compile_for(
    plan: Plan,
    kind: str,
    dtype: torch.dtype,
    masks: Any = None,
    *,
    arch: int = 90,
    block: int = 1024,
) -> Any:
    """Compile a generated kernel ahead of time for CUDA compute capability ``arch`` (no GPU
    needed): Triton's ``triton.compile`` to PTX and a cubin. Catches what the interpreter
    accepts but the GPU compiler rejects."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    if kind == "forward":
        source, _ = _emit_triton.forward_source(plan)
    else:
        source, _ = _emit_triton.backward_source(plan, *masks)
    saved = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "0"  # a compiled (not interpreted) jit function
    try:
        fn = _load(source, f"snnfunc_{kind}")
    finally:
        if saved is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = saved
    constexprs = {"BLOCK": block} if kind == "forward" else {"BLOCK": block, "STATIC": False}
    ast = ASTSource(fn, _emit_triton.signature(plan, kind, dtype, masks), constexprs=constexprs)
    return triton.compile(
        ast, target=GPUTarget("cuda", arch, 32), options={"enable_fp_fusion": False}
    )


def kernel(plan: Plan, kind: str, masks: Any = None) -> Kernel:
    """The forward or (for ``masks``) backward kernel of ``plan``, generated once."""
    key = (id(plan), kind, masks, interpreting())
    if key not in _KERNELS:
        portable = interpreting()  # the interpreter has no libdevice
        if kind == "forward":
            source, consts = _emit_triton.forward_source(plan, portable=portable)
        else:
            source, consts = _emit_triton.backward_source(plan, *masks, portable=portable)
        fn = _load(source, f"snnfunc_{kind}")
        _KERNELS[key] = Kernel(fn, consts, f"triton {kind} ({plan.describe()})")
        _KEEP[key] = plan  # id(plan) stays unique while the kernel is cached
    return _KERNELS[key]


_KEEP: dict[tuple[Any, ...], Plan] = {}


def _next_power_of_2(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def launch(
    k: Kernel,
    tensors: Sequence[Tensor | None],
    strides: Sequence[int],
    num_steps: int,
    elements: int,
    x_step: int,
    **constexprs: Any,
) -> None:
    """Run ``k`` over ``elements`` neurons: one program per block."""
    if elements == 0:
        return
    device = next(t for t in tensors if t is not None).device
    args = [*tensors, k.constants(device), *strides, num_steps, elements, x_step]

    def run(block: int, warps: int) -> None:
        grid = (-(-elements // block),)
        k.fn[grid](*args, BLOCK=block, num_warps=warps, enable_fp_fusion=False, **constexprs)

    if interpreting() or device.type != "cuda":
        # the interpreter runs a block per numpy call: large blocks, few programs. It also
        # computes the masked-off lanes of the last block (and NaN, like the GPU, but numpy
        # warns): its floating-point warnings are not the user's
        import numpy

        with numpy.errstate(all="ignore"):
            run(min(1024, max(16, _next_power_of_2(elements))), 4)
        return
    bucket = (elements, tuple(sorted(constexprs.items())))
    if bucket not in k.blocks:
        k.blocks[bucket] = tune(run, _cuda_timer)
    run(*k.blocks[bucket])


def tune(
    run: Callable[[int, int], None],
    timer: Callable[[Callable[[], None]], float],
    configs: Sequence[tuple[int, int]] = CONFIGS,
) -> tuple[int, int]:
    """The fastest ``(BLOCK, num_warps)`` of ``configs`` by ``timer`` (seconds of one call)."""
    times = {config: timer(functools.partial(run, *config)) for config in configs}
    return min(times, key=times.__getitem__)


def _cuda_timer(fn: Callable[[], None]) -> float:  # pragma: no cover - needs a GPU
    """Median seconds of ``fn`` after a warm-up (compiles), by CUDA events."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(5):
        start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return float(sorted(times)[len(times) // 2])
