"""Fused multi-step neuron layers: the whole time loop as one unit, equal to :func:`snnfunc.scan`.

See :mod:`snnfunc.fused.scans` for the semantics and the implementations (C++ kernel, pure torch,
reference scan) and :mod:`snnfunc.fused._torch` for the backward's derivation.
"""

from snnfunc.fused._cpu import available as kernel_available
from snnfunc.fused._cpu import build_info as kernel_build_info
from snnfunc.fused.scans import FUSED as FUSED
from snnfunc.fused.scans import if_scan as if_scan
from snnfunc.fused.scans import lif_scan as lif_scan
from snnfunc.fused.scans import synaptic_scan as synaptic_scan

__all__ = ["FUSED", "if_scan", "lif_scan", "synaptic_scan", "kernel_available", "kernel_build_info"]
