"""HdrHistogram interval logs (format 1.3), which other HdrHistogram tools read.

Each line is one interval's latency histogram, in nanoseconds, compressed (V2
deflate) and base64-encoded, tagged with its phase: ``HistogramLogProcessor`` (Java),
``hdrhistogram``'s ``HistogramLogReader`` (Python) and HdrHistogram_c read them.
Times are seconds from ``#[BaseTime]``; ``Interval_Max`` is in milliseconds.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Union

from ._result import Interval

__all__ = ["write_interval_log"]

#: The maximum value column is written in units of 1e6 ns: milliseconds.
MAX_VALUE_UNIT_RATIO = 1e6
_TAG = re.compile(r"[^,\s]+\Z")


def write_interval_log(path: Union[str, Path], rows: Iterable[tuple[str, float, Interval]]) -> Path:
    """Write ``(tag, start_unix_s, interval)`` rows as an interval log; return the path.

    The base time is the earliest start; rows keep their order.
    """
    rows = list(rows)
    base = min((start for _, start, _ in rows), default=time.time())
    stamp = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(base))
    lines = [
        "#[Written by cannonade]",
        "#[Histogram log format version 1.3]",
        f"#[StartTime: {base:.3f} (seconds since epoch), {stamp}]",
        f"#[BaseTime: {base:.3f} (seconds since epoch)]",
        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"',
    ]
    for tag, start, interval in rows:
        if not _TAG.match(tag):
            raise ValueError(f"interval log tag {tag!r} must not be empty or hold commas or spaces")
        if not interval.histogram:
            continue
        length = (interval.end_ns - interval.start_ns) / 1e9
        peak = interval.latency.max_ns / MAX_VALUE_UNIT_RATIO
        payload = base64.b64encode(interval.histogram).decode("ascii")
        lines.append(f"Tag={tag},{start - base:.3f},{length:.3f},{peak:.3f},{payload}")
    out = Path(path)
    out.write_text("\n".join(lines) + "\n", encoding="ascii")
    return out
