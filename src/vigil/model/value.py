"""Special sample values and time units.

Timestamps are int milliseconds since the Unix epoch throughout Vigil, as in
Prometheus. A *staleness marker* is a NaN with a reserved bit pattern, written
when a series disappears from a scrape or its target goes down; queries treat
it as "no value from here on", and it is distinguishable from an ordinary NaN
sample only by its bits.
"""

from __future__ import annotations

import math
import struct

__all__ = ["STALE_NAN", "STALE_NAN_BITS", "is_stale_nan", "now_ms"]

STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]


def is_stale_nan(value: float) -> bool:
    """Whether *value* is the staleness marker (and not another NaN)."""
    return math.isnan(value) and struct.pack("<d", value) == struct.pack("<Q", STALE_NAN_BITS)


def now_ms() -> int:
    """The wall clock in milliseconds (pass a clock instead where tests need control)."""
    import time

    return time.time_ns() // 1_000_000
