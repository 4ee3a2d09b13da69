"""Property-test tools for snnfunc and for your own cells (needs ``hypothesis``).

* :mod:`snnfunc.testing.strategies`: hypothesis strategies for shapes, tensors, input currents,
  spike trains, and every built-in model's states and params.
* :mod:`snnfunc.testing.checks`: invariant checks, re-exported here --
  :func:`assert_transform_compatible` (vmap/grad/jacrev/vmap(grad) work and agree with the
  batched call), :func:`check_surrogate` (Heaviside forward, finite integrable backward),
  :func:`check_rate_convergence` (a rate encoder's firing rate converges to ``p``),
  :func:`assert_scan_equivalent` (a fused multi-step path equals ``scan`` of a step).

The checkers work under hypothesis' default settings (its 200 ms ``deadline`` included):
importing this package runs :func:`warm_up`, torch.func's one-time setup (~1 s), outside
any timed example.

``hypothesis`` is a dependency of this subpackage only (``pip install hypothesis``, or the
``dev`` extra); ``import snnfunc`` does not import it.
"""

from snnfunc.testing import strategies as strategies
from snnfunc.testing.checks import SurrogateReport as SurrogateReport
from snnfunc.testing.checks import assert_scan_equivalent as assert_scan_equivalent
from snnfunc.testing.checks import assert_transform_compatible as assert_transform_compatible
from snnfunc.testing.checks import check_rate_convergence as check_rate_convergence
from snnfunc.testing.checks import check_surrogate as check_surrogate
from snnfunc.testing.checks import warm_up as warm_up
