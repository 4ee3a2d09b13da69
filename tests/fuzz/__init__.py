"""Fuzz the public API: every call returns its documented result or raises ValueError/TypeError.

The harness is a table: each :class:`Entry` names a public function and an argument builder that
draws a call with hypothesis - random shapes (0-d, empty, very large batch), dtypes (float16,
bfloat16, float32, float64, and integer/bool/complex ones that must be refused), values (normal,
huge, tiny, negative, NaN, inf) and, now and then, a broken argument (wrong shape, dtype, device,
type or option). The builder knows from the documentation whether the call is valid:

* a valid call must return, and its result must have the documented shape, dtype and device
  (``Call.check``), spikes must be 0, 1 or NaN, and NaN in ``x`` must show in the spikes (NaN
  policy); where ``x`` requires grad the backward must run and give ``x``'s shape and dtype;
* an invalid call must raise ``ValueError`` or ``TypeError``;
* no other exception type may escape, whatever the call.

One module per area (``test_neurons``, ``test_scan``, ``test_encoders``, ...) holds that area's
table ``FUZZ``; the shared strategies, checks and tables are in ``_harness``. To cover a new public
function, add one ``@FUZZ.entry("name")`` builder to its area's module. The number of examples
per entry follows the hypothesis profile (``ci``: 40); ``SNNFUNC_FUZZ_EXAMPLES=N`` overrides it
for a longer local hunt.
"""
