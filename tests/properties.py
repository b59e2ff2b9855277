"""How many examples the input-class property tests try, and with which seed.

`make test` runs them derandomized (the same examples on every machine and every run) and
few enough that a whole file stays within seconds. `PROPERTY_EXAMPLES=N` asks for N examples
per test with a fresh random seed instead: the long run (`make test-properties-long`) that
looks further than the fixed examples can. A failure prints the blob that replays it
(`@reproduce_failure`).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_ASKED = os.environ.get("PROPERTY_EXAMPLES", "")
LONG_RUN = _ASKED.isdigit()

PROPERTIES = settings(
    max_examples=int(_ASKED) if LONG_RUN else 20,
    derandomize=not LONG_RUN,
    # A loopback round trip, sometimes with a 1 MB body: timing is not what is tested.
    deadline=None,
    database=None,
    print_blob=True,
    # One server for all the examples of a test is the point: its state does not matter to
    # "never a 5xx", and starting one per example would cost a second each.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
