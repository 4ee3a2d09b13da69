"""Online learning: gradients from one forward pass with eligibility traces, memory constant in T.

:func:`grad` runs ``step`` over ``xs [T, B, ...]`` once, carrying eligibility traces derived from
the step itself with ``torch.func`` (its VJP and JVPs), and returns the gradient of the summed
per-step loss, exact where the method's conditions hold (see each method) and an approximation
elsewhere. :data:`METHODS` is the catalogue of methods (e-prop, OTTT) that tests iterate.
"""

from snnfunc.online._method import Method as Method
from snnfunc.online.feedback import feedback_linear as feedback_linear
from snnfunc.online.gradient import METHODS as METHODS
from snnfunc.online.gradient import grad as grad

__all__ = ["grad", "METHODS", "Method", "feedback_linear"]
