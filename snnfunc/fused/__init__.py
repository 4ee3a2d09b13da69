"""Fused multi-step neurons: the whole time loop as one unit, equal to :func:`snnfunc.scan`.

:func:`fuse` derives the fused scan of any pointwise step (:mod:`snnfunc.fused.fuse`: traced
graphs, generated C kernels, the graph executor); :mod:`snnfunc.fused.scans` names the built-in
models' fused scans (``lif_scan``, ``synaptic_scan``, ``if_scan``, :data:`FUSED`).
"""

from snnfunc.fused.fuse import Explanation as Explanation
from snnfunc.fused.fuse import Fused as Fused
from snnfunc.fused.fuse import fuse as fuse
from snnfunc.fused.scans import FUSED as FUSED
from snnfunc.fused.scans import if_scan as if_scan
from snnfunc.fused.scans import lif_scan as lif_scan
from snnfunc.fused.scans import synaptic_scan as synaptic_scan

__all__ = ["FUSED", "Explanation", "Fused", "fuse", "if_scan", "lif_scan", "synaptic_scan"]
